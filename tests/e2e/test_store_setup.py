"""Store startup: `store.index.embed` resolution, config errors, and how the store copes with the database."""

from __future__ import annotations

from pathlib import Path

import msgspec
import psycopg
import pytest

from aegra.app import create_app
from aegra.config import AegraConfig, StoreConfig, StoreIndexConfig, TtlConfig, load_config
from aegra.db.database import Database
from aegra.db.url import psycopg_conninfo
from aegra.errors import ConfigError
from aegra.schemas.store import StorePutRequest, StoreSearchRequest
from aegra.settings import Settings
from aegra.store.embeddings import build_index_config, load_embeddings
from aegra.store.service import StoreService
from aegra.store.ttl import build_ttl_config
from tests.conftest import TEST_GRAPHS_CONFIG

GRAPHS_DIR = TEST_GRAPHS_CONFIG.parent


def with_store(store: StoreConfig) -> AegraConfig:
    return msgspec.structs.replace(load_config(TEST_GRAPHS_CONFIG), store=store)


def indexed(embed: str = "../../examples/embeddings.py:embed", dims: int = 64) -> AegraConfig:
    return with_store(StoreConfig(index=StoreIndexConfig(dims=dims, embed=embed, fields=["text"])))


def pgvector_available(url: str) -> bool:
    with psycopg.connect(psycopg_conninfo(url)) as conn:
        return conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone() is not None


def test_embed_file_path_resolves_against_the_config_folder() -> None:
    embeddings = load_embeddings("../../examples/embeddings.py:embed", base_dir=GRAPHS_DIR)

    vector = embeddings.embed_query("apples")

    assert len(vector) == 64
    assert embeddings.embed_documents(["apples"]) == [vector]


def test_embed_dotted_module_path_is_imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "my_embeddings"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "toy.py").write_text("async def embed(texts):\n    return [[1.0, 0.0] for _ in texts]\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    embeddings = load_embeddings("my_embeddings.toy:embed", base_dir=tmp_path)

    assert embeddings.embed_documents is not None
    assert type(embeddings).__name__ == "EmbeddingsLambda"


@pytest.mark.parametrize(
    ("embed", "message"),
    [
        ("./missing.py:embed", "does not exist"),
        ("../../examples/embeddings.py:nope", "has no attribute 'nope'"),
        ("../../examples/embeddings.py:DIMS", "not a function or an Embeddings"),
        ("no_colon_here", "must look like"),
        ("openai:text-embedding-3-small", "needs the `langchain` package"),
        ("no_such_pkg.mod:embed", "cannot import module"),
    ],
)
def test_bad_embed_is_a_config_error_naming_the_key(embed: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"store\.index\.embed") as caught:
        build_index_config(indexed(embed))

    assert message in str(caught.value)


def test_non_positive_dims_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"store\.index\.dims"):
        build_index_config(indexed(dims=0))


@pytest.mark.parametrize(
    ("ttl", "message"),
    [
        (TtlConfig(default_ttl=0), "default_ttl"),
        (TtlConfig(sweep_interval_minutes=-1), "sweep_interval_minutes"),
    ],
)
def test_bad_ttl_is_a_config_error(ttl: TtlConfig, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_ttl_config(with_store(StoreConfig(ttl=ttl)))


def test_ttl_config_defaults_hide_expired_items_and_sweep() -> None:
    ttl = build_ttl_config(with_store(StoreConfig(ttl=TtlConfig(default_ttl=60, refresh_on_read=False))))
    default = build_ttl_config(load_config(TEST_GRAPHS_CONFIG))

    assert ttl == {"refresh_on_read": False, "default_ttl": 60, "sweep_interval_minutes": 5.0, "omit_expired": True}
    assert default["omit_expired"] is True
    assert default["default_ttl"] is None


def test_create_app_fails_fast_on_a_bad_embed(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        create_app(settings, indexed("./missing.py:embed"))


async def test_changed_dims_refuse_to_start_with_a_clear_message(database_url: str, settings: Settings) -> None:
    if not pgvector_available(database_url):
        pytest.skip("this PostgreSQL has no pgvector")
    first = Database(database_url, settings, store_index=build_index_config(indexed(dims=64)))
    await first.open()
    await first.close()

    second = Database(database_url, settings, store_index=build_index_config(indexed(dims=32)))
    try:
        with pytest.raises(ConfigError, match=r"store\.index\.dims is 32 but this database already holds 64"):
            await second.open()
    finally:
        await second.close()


async def test_without_pgvector_the_store_serves_with_semantic_search_off(
    database_without_pgvector_rights: str,
) -> None:
    url = database_without_pgvector_rights
    database = Database(url, Settings(database_url=url), store_index=build_index_config(indexed()))
    try:
        await database.open()
        service = StoreService(database.store)
        await service.put(StorePutRequest(namespace=["docs"], key="old", value={"text": "zebra"}))
        await service.put(StorePutRequest(namespace=["docs"], key="new", value={"text": "apples"}))

        found = await service.search(StoreSearchRequest(namespace_prefix=["docs"], query="apples"))
    finally:
        await database.close()

    assert database.semantic_search is False
    assert [(item.key, item.score) for item in found.items] == [("new", None), ("old", None)]
