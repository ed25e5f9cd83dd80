"""House limits on `src/aegra`: no module over 400 lines, no function over 60 (from its `def` to its last line)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Final

SRC = Path(__file__).resolve().parents[2] / "src"
MAX_MODULE_LINES: Final = 400
MAX_FUNCTION_LINES: Final = 60


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted((SRC / "aegra").rglob("*.py")):
        yield path.relative_to(SRC).as_posix(), path


def _functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, int]]:
    """(qualified name, length in lines) of every function and method, nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            name = f"{prefix}{node.name}"
            yield name, (node.end_lineno or node.lineno) - node.lineno + 1
            yield from _functions(node, f"{name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")
        else:
            yield from _functions(node, prefix)


def _oversize() -> dict[str, int]:
    found: dict[str, int] = {}
    for name, path in _modules():
        text = path.read_text()
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES:
            found[name] = lines
        for function, length in _functions(ast.parse(text, filename=str(path))):
            if length > MAX_FUNCTION_LINES:
                found[f"{name}:{function}"] = length
    return found


def test_no_module_or_function_is_too_long() -> None:
    offenders = _oversize()

    assert offenders == {}, f"over {MAX_MODULE_LINES} lines per module / {MAX_FUNCTION_LINES} per function"


def test_function_lengths_count_from_def_to_last_line() -> None:
    tree = ast.parse("class A:\n    def f(self):\n        x = 1\n\n        return x\n")

    assert dict(_functions(tree)) == {"A.f": 4}
