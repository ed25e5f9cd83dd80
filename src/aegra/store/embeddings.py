"""Resolve `store.index.embed` into an embeddings object and build the store's pgvector index config.

`embed` is one of:
- `./path/to/file.py:function` — a file relative to the config file's folder (also `../x.py:f`, `/abs/x.py:f`);
- `package.module:attribute` — an importable module (the dotted path tells it apart from a provider);
- `provider:model` — LangChain's `init_embeddings` (needs `langchain` and the provider's package installed).

The attribute may be a LangChain `Embeddings` instance or a function, sync or async, mapping a list of texts
to a list of vectors.
"""

from __future__ import annotations

from pathlib import Path

from langchain_core.embeddings import Embeddings
from langgraph.store.base import ensure_embeddings
from langgraph.store.postgres.base import PostgresIndexConfig

from aegra.config import AegraConfig
from aegra.loading import LoadError, is_file_reference, load_object


def _init_provider(spec: str) -> Embeddings:
    try:
        from langchain.embeddings import init_embeddings
    except ImportError:
        raise LoadError(
            f"{spec!r} names a provider model, which needs the `langchain` package and the provider's package "
            "(e.g. `langchain-openai`); install them, or point `embed` at a local function such as './embed.py:embed'"
        ) from None
    try:
        embeddings: Embeddings = init_embeddings(spec)
    except (ImportError, ValueError) as exc:
        raise LoadError(f"cannot initialise embeddings {spec!r}: {exc}") from exc
    return embeddings


def load_embeddings(spec: str, *, base_dir: Path) -> Embeddings:
    """Turn an `embed` string from aegra.json into a LangChain `Embeddings` object (LoadError says why not)."""
    module_ref, sep, attr = spec.rpartition(":")
    if not sep or not module_ref or not attr:
        raise LoadError(f"{spec!r} must look like './file.py:function', 'package.module:attribute' or 'provider:model'")
    if not is_file_reference(module_ref) and "." not in module_ref:
        return _init_provider(spec)
    target = load_object(spec, base_dir)
    if not isinstance(target, Embeddings) and not callable(target):
        raise LoadError(f"{spec!r} is {type(target).__name__}, not a function or an Embeddings")
    return ensure_embeddings(target)


def build_index_config(config: AegraConfig) -> PostgresIndexConfig | None:
    """The `index` argument of `AsyncPostgresStore` from `store.index` (None: no semantic search)."""
    index = config.store.index if config.store is not None else None
    if index is None:
        return None
    if index.dims <= 0:
        raise config.error("store.index.dims", f"must be a positive number of dimensions, got {index.dims}")
    try:
        embeddings = load_embeddings(index.embed, base_dir=Path(config.base_dir or "."))
    except LoadError as exc:
        raise config.error("store.index.embed", str(exc)) from None
    index_config = PostgresIndexConfig(dims=index.dims, embed=embeddings)
    if index.fields is not None:
        index_config["fields"] = list(index.fields)
    return index_config
