"""Python's cyclic garbage collector around startup: paused while a command imports and builds the app, resumed
once the process serves, with what startup built frozen out of its sight.

Startup creates ~10^6 objects that live as long as the process (modules, classes, the app, the graphs), and next
to none that are garbage (~2,000 cycles). With the collector on, its full passes re-scan the growing heap while it
is being built: ~0.35 s of CPU of a ~2 s warm `aegra serve` start."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


class _Pause:
    paused = False


_PAUSE = _Pause()


@contextmanager
def paused() -> Iterator[None]:
    """No collection from here until `resume`, or the end of the block at the latest (a command that fails before
    it serves). The commands that start a server run in one, from before their imports."""
    if gc.isenabled():
        gc.disable()
        _PAUSE.paused = True
    try:
        yield
    finally:
        _unpause()


def resume() -> None:
    """Startup is done: freeze what it built (the collector then never re-scans those objects; their few cycles
    stay) and collect again if `paused` stopped it. A host that turned the collector off itself keeps it off."""
    gc.freeze()
    _unpause()


def _unpause() -> None:
    if _PAUSE.paused:
        _PAUSE.paused = False
        gc.enable()
