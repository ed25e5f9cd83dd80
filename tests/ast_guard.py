"""CPython 3.11's AST constructor keeps its recursion counter in interpreter-wide state (fixed in 3.12).

`ast.parse` re-entered while it builds a tree resets that counter: a finalizer run by the garbage collector
mid-parse (an asyncio task or generator dropped with an exception, which formats a traceback, and 3.11's
`traceback` calls `ast.parse` for its carets) makes the outer parse fail with `SystemError: AST constructor
recursion depth mismatch`. When the outer parse is pytest's own, formatting a failure, the whole session dies
with INTERNALERROR. Two threads parsing at once do the same. On 3.11 the suite therefore serializes
`ast.parse` across threads and refuses a re-entered parse with a SyntaxError, which every caller that parses
in a finalizer (traceback's caret drawing among them) already handles by going without.
"""

from __future__ import annotations

import ast
import functools
import sys
import threading
from typing import Any

_state = threading.local()
_lock = threading.Lock()


def install() -> None:
    """Make `ast.parse` safe against re-entry and threads on the CPython versions that need it."""
    if sys.version_info >= (3, 12) or getattr(ast.parse, "__aegra_guarded__", False):
        return
    original = ast.parse

    @functools.wraps(original)
    def parse(*args: Any, **kwargs: Any) -> Any:
        if getattr(_state, "parsing", False):
            raise SyntaxError("ast.parse re-entered while building a tree (CPython 3.11 AST counter bug)")
        with _lock:
            _state.parsing = True
            try:
                return original(*args, **kwargs)
            finally:
                _state.parsing = False

    parse.__aegra_guarded__ = True  # type: ignore[attr-defined]
    ast.parse = parse
