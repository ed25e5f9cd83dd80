"""The embedded PostgreSQL's handle list: processes that died without letting go must not keep it running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from aegra.db.embedded import HANDLE_PIDS_FILE, forget_dead_handles


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_dead_processes_are_dropped_from_the_handle_list(tmp_path: Path) -> None:
    dead = _dead_pid()
    handles = tmp_path / HANDLE_PIDS_FILE
    handles.write_text(json.dumps([os.getppid(), dead, os.getpid()]))

    dropped = forget_dead_handles(tmp_path)

    assert dropped == [dead]
    assert json.loads(handles.read_text()) == [os.getppid(), os.getpid()]


def test_a_list_of_live_processes_is_left_untouched(tmp_path: Path) -> None:
    handles = tmp_path / HANDLE_PIDS_FILE
    handles.write_text(json.dumps([os.getpid()]))
    before = handles.stat().st_mtime_ns

    dropped = forget_dead_handles(tmp_path)

    assert dropped == []
    assert handles.stat().st_mtime_ns == before


def test_missing_or_unreadable_handle_list_is_ignored(tmp_path: Path) -> None:
    assert forget_dead_handles(tmp_path) == []
    (tmp_path / HANDLE_PIDS_FILE).write_text("not json")
    assert forget_dead_handles(tmp_path) == []
