"""pytest formats failures with `ast.parse`; a parse re-entered from a finalizer must not break the outer one."""

from __future__ import annotations

import ast
import contextlib
import gc
import threading
from pathlib import Path


class _ParsesWhenCollected:
    """An object whose finalizer parses code, as a dropped task that formats its traceback does."""

    def __init__(self) -> None:
        self.cycle = self  # only the cyclic garbage collector frees it, at an allocation inside the outer parse

    def __del__(self) -> None:
        with contextlib.suppress(SyntaxError):  # the guard refuses a re-entered parse
            ast.parse("value = (1 +\n 2)")


def test_a_parse_re_entered_by_the_garbage_collector_leaves_the_outer_parse_intact() -> None:
    source = Path(ast.__file__).read_text()
    gc.collect()

    for _ in range(30):
        for _ in range(2000):
            _ParsesWhenCollected()
        tree = ast.parse(source)

        assert isinstance(tree, ast.Module)


def test_parses_in_several_threads_at_once_all_succeed() -> None:
    source = Path(threading.__file__).read_text()
    failures: list[BaseException] = []

    def parse_many() -> None:
        for _ in range(40):
            try:
                ast.parse(source)
            except SystemError as exc:
                failures.append(exc)
            for _ in range(200):
                _ParsesWhenCollected()

    threads = [threading.Thread(target=parse_many) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
