"""Import `"./path/file.py:attr"` or `"package.module:attr"` references from aegra.json (graphs, auth,
custom routes, embeddings). Files load once under a stable module name derived from their path."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import uuid
from pathlib import Path
from typing import Any


class LoadError(Exception):
    """Why a reference could not be imported; callers add the config key it came from."""


def is_file_reference(module_ref: str) -> bool:
    return module_ref.endswith(".py") or "/" in module_ref or "\\" in module_ref or module_ref.startswith(".")


def module_name_for(path: Path) -> str:
    return f"aegra_user.{path.stem}_{uuid.uuid5(uuid.NAMESPACE_URL, str(path)).hex[:8]}"


def load_module(module_ref: str, base_dir: Path) -> Any:
    """Import a module by dotted name, or a Python file relative to `base_dir`."""
    if not is_file_reference(module_ref):
        try:
            return importlib.import_module(module_ref)
        except ImportError as exc:
            raise LoadError(f"cannot import module {module_ref!r}: {exc}") from exc
        except Exception as exc:  # user code failing at import time: report it, never a traceback
            raise LoadError(f"importing module {module_ref!r} failed: {type(exc).__name__}: {exc}") from exc
    path = (base_dir / module_ref).resolve()
    if not path.is_file():
        raise LoadError(f"file {path} does not exist")
    if path.suffix != ".py":
        raise LoadError(f"file {path} is not a Python file")
    name = module_name_for(path)
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LoadError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # user code failing at import time: report it, never a traceback
        del sys.modules[name]
        raise LoadError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
    return module


def load_object(reference: str, base_dir: Path) -> Any:
    """The attribute named after the colon of `reference`."""
    module_ref, sep, attr = reference.rpartition(":")
    if not sep or not module_ref or not attr:
        raise LoadError(f"{reference!r} must look like './path/file.py:name' or 'package.module:name'")
    module = load_module(module_ref, base_dir)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise LoadError(f"{module_ref!r} has no attribute {attr!r}") from None
