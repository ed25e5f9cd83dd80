"""aegra.json: where it is found, what it may contain, and how a bad one is reported."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from aegra.config import GraphEntry, apply_env, env_values, load_config, parse_config, resolve_config_path
from aegra.errors import ConfigError

MINIMAL = {"graphs": {"agent": "./graph.py:graph"}}


def _write(path: Path, content: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


@pytest.fixture(autouse=True)
def no_aegra_config_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AEGRA_CONFIG", raising=False)


def test_aegra_json_wins_over_langgraph_json(tmp_path: Path) -> None:
    _write(tmp_path / "langgraph.json", MINIMAL)
    aegra = _write(tmp_path / "aegra.json", MINIMAL)

    assert resolve_config_path(cwd=tmp_path) == aegra.resolve()


def test_langgraph_json_is_the_fallback(tmp_path: Path) -> None:
    langgraph = _write(tmp_path / "langgraph.json", MINIMAL)

    assert resolve_config_path(cwd=tmp_path) == langgraph.resolve()


def test_aegra_config_env_wins_over_files_in_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path / "aegra.json", MINIMAL)
    chosen = _write(tmp_path / "conf" / "prod.json", MINIMAL)
    monkeypatch.setenv("AEGRA_CONFIG", "conf/prod.json")

    assert resolve_config_path(cwd=tmp_path) == chosen.resolve()


def test_explicit_path_wins_over_aegra_config_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AEGRA_CONFIG", str(_write(tmp_path / "env.json", MINIMAL)))
    explicit = _write(tmp_path / "explicit.json", MINIMAL)

    assert resolve_config_path(explicit, cwd=tmp_path) == explicit.resolve()


def test_missing_config_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="No config file found"):
        resolve_config_path(cwd=tmp_path)
    monkeypatch.setenv("AEGRA_CONFIG", "nowhere.json")
    with pytest.raises(ConfigError, match=r"nowhere.json \(from AEGRA_CONFIG\) does not exist"):
        resolve_config_path(cwd=tmp_path)


def test_loaded_config_knows_its_file_and_folder(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "aegra.json",
        {
            "graphs": {"short": "./a.py:graph", "long": {"path": "pkg.mod:graph", "description": "The long form"}},
            "dependencies": ["."],
            "python_version": "3.11",  # langgraph.json build keys are ignored
            "dockerfile_lines": [],
        },
    )

    config = load_config(path)

    assert config.config_file == str(path.resolve())
    assert config.base_dir == str(tmp_path.resolve())
    assert config.graphs["long"] == GraphEntry(path="pkg.mod:graph", description="The long form")
    assert config.graph_paths() == {"short": "./a.py:graph", "long": "pkg.mod:graph"}
    assert config.graph_descriptions() == {"short": None, "long": "The long form"}
    assert config.resolve("./a.py") == (tmp_path / "a.py").resolve()


def test_later_issue_keys_are_parsed(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "aegra.json",
        {
            **MINIMAL,
            "auth": {"path": "./auth.py:auth", "disable_studio_auth": True},
            "http": {"app": "./routes.py:app", "cors": {"allow_origins": ["http://localhost:3000"]}},
            "store": {"index": {"dims": 3, "embed": "fake:embed"}, "ttl": {"default_ttl": 60}},
            "checkpointer": {"ttl": {"strategy": "keep_latest", "default_ttl": 120}},
        },
    )

    config = load_config(path)

    assert config.auth is not None and config.auth.disable_studio_auth
    assert config.http is not None and config.http.cors is not None
    assert config.http.cors.allow_origins == ["http://localhost:3000"]
    assert config.store is not None and config.store.index is not None and config.store.index.dims == 3
    assert config.checkpointer is not None and config.checkpointer.ttl is not None
    assert config.checkpointer.ttl.strategy == "keep_latest"


@pytest.mark.parametrize(
    ("content", "key", "problem"),
    [
        ({}, "graphs", "missing required field"),
        ([], "(top level)", "expected a JSON object"),
        ({"graphs": {}}, "graphs", "name at least one graph"),
        ({"graphs": {"agent": 1}}, "graphs.agent", "Expected `str | object`, got `int`"),
        ({"graphs": {"agent": "no_colon"}}, "graphs.agent", "expected './path/file.py:attribute'"),
        ({"graphs": {"agent": {"path": 3}}}, "graphs.agent.path", "Expected `str`, got `int`"),
        ({"graphs": {"agent": {"paht": "./a.py:g"}}}, "graphs.agent", "unknown field `paht`"),
        ({**MINIMAL, "env": {"API_KEY": 1}}, "env.API_KEY", "Expected `str`, got `int`"),
        ({**MINIMAL, "env": "./missing.env"}, "env", "does not exist"),
        ({**MINIMAL, "dependencies": "."}, "dependencies", "Expected `array`, got `str`"),
        ({**MINIMAL, "auth": {"path": 3}}, "auth.path", "Expected `str | null`, got `int`"),
        ({**MINIMAL, "store": {"index": {"dims": 3}}}, "store.index.embed", "missing required field"),
    ],
)
def test_bad_config_names_the_file_and_the_key(tmp_path: Path, content: object, key: str, problem: str) -> None:
    path = _write(tmp_path / "aegra.json", content)

    with pytest.raises(ConfigError) as excinfo:
        load_config(path)

    message = str(excinfo.value)
    assert str(path.resolve()) in message
    assert f"`{key}`" in message
    assert problem in message


def test_malformed_json_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "aegra.json", '{"graphs": ')

    with pytest.raises(ConfigError, match="is not valid JSON") as excinfo:
        parse_config(path.read_bytes(), source=path)

    assert str(path) in str(excinfo.value)


def test_env_dict_is_exported_without_overriding_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AEGRA_TEST_NEW", raising=False)
    monkeypatch.setenv("AEGRA_TEST_SET", "from the shell")
    config = load_config(
        _write(tmp_path / "aegra.json", {**MINIMAL, "env": {"AEGRA_TEST_NEW": "new", "AEGRA_TEST_SET": "file"}})
    )

    applied = apply_env(config)

    assert applied == ["AEGRA_TEST_NEW"]
    assert os.environ["AEGRA_TEST_NEW"] == "new"
    assert os.environ["AEGRA_TEST_SET"] == "from the shell"
    monkeypatch.delenv("AEGRA_TEST_NEW")


def test_env_file_resolves_against_the_config_folder(tmp_path: Path) -> None:
    _write(tmp_path / "project" / "settings.env", "# comment\nAEGRA_TEST_A=1\nexport AEGRA_TEST_B='two words'\n")
    config = load_config(_write(tmp_path / "project" / "aegra.json", {**MINIMAL, "env": "settings.env"}))

    values = env_values(config)

    assert values == {"AEGRA_TEST_A": "1", "AEGRA_TEST_B": "two words"}


def test_no_env_key_exports_nothing(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path / "aegra.json", MINIMAL))

    assert apply_env(config) == []
