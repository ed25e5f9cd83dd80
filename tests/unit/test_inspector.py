"""The inspector's serving rules without a database: the switch, the public paths, and a fresh committed build."""

from __future__ import annotations

import hashlib
from pathlib import Path

import msgspec
import pytest
from litestar.testing import TestClient

from aegra.app import create_app
from aegra.config import AegraConfig, HttpConfig
from aegra.inspector.routes import STATIC_DIR, is_inspector_asset
from aegra.settings import Settings
from tests.conftest import REPO_ROOT

SOURCE_DIR = REPO_ROOT / "inspector"


def _app_config(*, disable_inspector: bool) -> AegraConfig:
    return AegraConfig(graphs={}, http=HttpConfig(disable_inspector=disable_inspector))


def _get(config: AegraConfig, path: str) -> tuple[int, str]:
    """Static routes need no database, so the app answers without its lifespan."""
    client = TestClient(create_app(Settings(), config))
    response = client.get(path, follow_redirects=False)
    return response.status_code, response.text


def test_inspector_is_served_by_default() -> None:
    status, body = _get(_app_config(disable_inspector=False), "/inspector/")

    assert status == 200
    assert "<title>Aegra inspector</title>" in body


def test_disable_inspector_removes_the_page() -> None:
    status, _ = _get(_app_config(disable_inspector=True), "/inspector/")

    assert status == 404


def test_bare_inspector_path_redirects_to_the_folder() -> None:
    status, _ = _get(_app_config(disable_inspector=False), "/inspector")

    assert status == 302


def test_disable_inspector_is_read_from_aegra_json() -> None:
    config = msgspec.json.decode(b'{"graphs": {}, "http": {"disable_inspector": true}}', type=AegraConfig)

    assert config.http is not None and config.http.disable_inspector


@pytest.mark.parametrize(
    ("path", "public"),
    [
        ("/inspector", True),
        ("/inspector/", True),
        ("/inspector/inspector.js", True),
        ("/inspectors", False),
        ("/inspector-admin", False),
        ("/inspector/../threads", False),
        ("/inspector/./../assistants/search", False),
        ("/threads/inspector", False),
    ],
)
def test_only_the_inspector_files_are_public(path: str, public: bool) -> None:
    assert is_inspector_asset(path) is public


def _source_hash(source_dir: Path) -> str:
    """The hash `inspector/build.mjs` records in BUILD_SOURCES, computed the same way."""
    files = ["build.mjs", "index.html", "package-lock.json"]
    files += [f"src/{path.name}" for path in sorted((source_dir / "src").iterdir(), key=lambda item: item.name)]
    digest = hashlib.sha256()
    for name in files:
        digest.update(f"{name}\n".encode())
        digest.update((source_dir / name).read_bytes())
        digest.update(b"\n")
    return digest.hexdigest()


def test_committed_build_matches_the_sources() -> None:
    recorded = (STATIC_DIR / "BUILD_SOURCES").read_text().strip()

    assert recorded == _source_hash(SOURCE_DIR), "inspector/ changed: run `cd inspector && npm ci && npm run build`"


def test_build_has_the_page_and_its_assets() -> None:
    names = {path.name for path in STATIC_DIR.iterdir()}

    assert {"index.html", "inspector.js", "inspector.css"} <= names
