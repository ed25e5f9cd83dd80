"""Resolve `store.index.embed` into an embeddings object and build the store's pgvector index config.

`embed` is one of:
- `./path/to/file.py:function` — a file relative to the config file's folder (also `../x.py:f`, `/abs/x.py:f`);
- `package.module:attribute` — an importable module (the dotted path tells it apart from a provider);
- `provider:model` — LangChain's `init_embeddings` (needs `langchain` and the provider's package installed).

The attribute may be a LangChain `Embeddings` instance or a function, sync or async, mapping a list of texts
to a list of vectors.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from langgraph.store.base import ensure_embeddings
from langgraph.store.postgres.base import PostgresIndexConfig

from aegra.config import AegraConfig
from aegra.errors import ConfigError

EMBED_KEY = "store.index.embed"


def _is_file_reference(module_ref: str) -> bool:
    return module_ref.endswith(".py") or "/" in module_ref or module_ref.startswith(".")


def _import_file(module_ref: str, base_dir: Path) -> Any:
    path = (base_dir / module_ref).resolve()
    if not path.is_file():
        raise ConfigError(f"{EMBED_KEY}: file {path} does not exist.")
    module_name = f"aegra_embeddings.{path.stem}_{uuid.uuid5(uuid.NAMESPACE_URL, str(path)).hex[:8]}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    import_spec = importlib.util.spec_from_file_location(module_name, path)
    if import_spec is None or import_spec.loader is None:
        raise ConfigError(f"{EMBED_KEY}: cannot load {path}.")
    module = importlib.util.module_from_spec(import_spec)
    sys.modules[module_name] = module
    try:
        import_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise ConfigError(f"{EMBED_KEY}: importing {path} failed: {type(exc).__name__}: {exc}") from exc
    return module


def _import_module(module_ref: str) -> Any:
    try:
        return importlib.import_module(module_ref)
    except ImportError as exc:
        raise ConfigError(f"{EMBED_KEY}: cannot import module {module_ref!r}: {exc}") from exc


def _init_provider(spec: str) -> Embeddings:
    try:
        from langchain.embeddings import init_embeddings
    except ImportError:
        raise ConfigError(
            f"{EMBED_KEY}: {spec!r} names a provider model, which needs the `langchain` package and the "
            "provider's package (e.g. `langchain-openai`). Install them, or point `embed` at a local function "
            "such as './embed.py:embed'."
        ) from None
    try:
        return init_embeddings(spec)
    except (ImportError, ValueError) as exc:
        raise ConfigError(f"{EMBED_KEY}: cannot initialise embeddings {spec!r}: {exc}") from exc


def load_embeddings(spec: str, *, base_dir: Path) -> Embeddings:
    """Turn an `embed` string from aegra.json into a LangChain `Embeddings` object."""
    module_ref, sep, attr = spec.rpartition(":")
    if not sep or not module_ref or not attr:
        raise ConfigError(
            f"{EMBED_KEY}: {spec!r} must look like './file.py:function', 'package.module:attribute' "
            "or 'provider:model'."
        )
    if not _is_file_reference(module_ref) and "." not in module_ref:
        return _init_provider(spec)
    module = _import_file(module_ref, base_dir) if _is_file_reference(module_ref) else _import_module(module_ref)
    target: Embeddings | Callable[..., Any] | None = getattr(module, attr, None)
    if target is None:
        raise ConfigError(f"{EMBED_KEY}: {module_ref!r} has no attribute {attr!r}.")
    if not isinstance(target, Embeddings) and not callable(target):
        raise ConfigError(f"{EMBED_KEY}: {spec!r} is {type(target).__name__}, not a function or an Embeddings.")
    return ensure_embeddings(target)


def build_index_config(config: AegraConfig) -> PostgresIndexConfig | None:
    """The `index` argument of `AsyncPostgresStore` from `store.index` (None: no semantic search)."""
    index = config.store.index if config.store is not None else None
    if index is None:
        return None
    if index.dims <= 0:
        raise ConfigError(f"store.index.dims must be a positive number of dimensions, got {index.dims}.")
    embeddings = load_embeddings(index.embed, base_dir=Path(config.base_dir or "."))
    index_config = PostgresIndexConfig(dims=index.dims, embed=embeddings)
    if index.fields is not None:
        index_config["fields"] = list(index.fields)
    return index_config
