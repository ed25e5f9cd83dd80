"""aegra.json / langgraph.json: the model, the file resolution order, the loader and the `env` key."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import msgspec
from dotenv import dotenv_values

from aegra.errors import ConfigError

CONFIG_FILE_NAMES: tuple[str, ...] = ("aegra.json", "langgraph.json")

# msgspec ends a validation message with the JSON path of the offending value, e.g. " - at `$.auth.path`".
_AT_PATH = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_MISSING_FIELD = re.compile(r"^Object missing required field `(?P<field>[^`]+)`")


class GraphEntry(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Long form of a `graphs` entry: `{"path": "./file.py:graph", "description": "..."}`."""

    path: str
    description: str | None = None


class AuthConfig(msgspec.Struct, kw_only=True):
    path: str | None = None
    disable_studio_auth: bool = False


class CorsConfig(msgspec.Struct, kw_only=True):
    allow_origins: list[str] = msgspec.field(default_factory=lambda: ["*"])
    allow_methods: list[str] = msgspec.field(default_factory=lambda: ["*"])
    allow_headers: list[str] = msgspec.field(default_factory=lambda: ["*"])
    allow_credentials: bool = False
    allow_origin_regex: str | None = None
    expose_headers: list[str] = msgspec.field(
        default_factory=lambda: ["x-pagination-total", "x-pagination-next", "content-location"]
    )
    max_age: int = 600


class HttpConfig(msgspec.Struct, kw_only=True):
    app: str | None = None
    cors: CorsConfig | None = None
    enable_custom_route_auth: bool = False
    disable_assistants: bool = False
    disable_threads: bool = False
    disable_runs: bool = False
    disable_store: bool = False
    disable_meta: bool = False
    disable_mcp: bool = False
    disable_a2a: bool = False
    disable_inspector: bool = False


class TtlConfig(msgspec.Struct, kw_only=True):
    strategy: str = "delete"
    default_ttl: float | None = None
    sweep_interval_minutes: float = 5.0
    refresh_on_read: bool = True


class StoreIndexConfig(msgspec.Struct, kw_only=True):
    dims: int
    embed: str
    fields: list[str] | None = None


class StoreConfig(msgspec.Struct, kw_only=True):
    index: StoreIndexConfig | None = None
    ttl: TtlConfig | None = None


class CheckpointerConfig(msgspec.Struct, kw_only=True):
    ttl: TtlConfig | None = None


class AegraConfig(msgspec.Struct, kw_only=True):
    """The parsed configuration file. Unknown keys (e.g. langgraph.json build keys) are ignored.

    `base_dir` (the file's folder, against which relative paths resolve) and `config_file` are filled in by the
    loader, not read from the file.
    """

    graphs: dict[str, str | GraphEntry]
    dependencies: list[str] = msgspec.field(default_factory=list)
    env: str | dict[str, str] | None = None
    auth: AuthConfig | None = None
    http: HttpConfig | None = None
    store: StoreConfig | None = None
    checkpointer: CheckpointerConfig | None = None
    base_dir: str = ""
    config_file: str = ""

    def graph_paths(self) -> dict[str, str]:
        """Map graph id → import spec (`path/to/file.py:attr` or `package.module:attr`)."""
        return {graph_id: entry if isinstance(entry, str) else entry.path for graph_id, entry in self.graphs.items()}

    def graph_descriptions(self) -> dict[str, str | None]:
        """Map graph id → the description of its long-form entry (None for the short form)."""
        return {
            graph_id: None if isinstance(entry, str) else entry.description for graph_id, entry in self.graphs.items()
        }

    def resolve(self, relative: str) -> Path:
        """A path from the config file, resolved against the file's folder."""
        return (Path(self.base_dir or ".") / relative).resolve()

    def error(self, key: str, problem: str) -> ConfigError:
        """A startup error that names this config file and the offending key."""
        return config_error(self.config_file or "aegra.json", key, problem)


def config_error(source: str | Path, key: str, problem: str) -> ConfigError:
    """The one format of every config problem: file, key, what is wrong."""
    return ConfigError(f"Invalid config file {source} at `{key}`: {problem}")


def resolve_config_path(explicit: str | Path | None = None, *, cwd: Path | None = None) -> Path:
    """Find the config file: explicit path → `AEGRA_CONFIG` → ./aegra.json → ./langgraph.json."""
    base = cwd if cwd is not None else Path.cwd()
    candidate = explicit if explicit is not None else os.environ.get("AEGRA_CONFIG") or None
    if candidate is not None:
        path = Path(candidate).expanduser()
        path = path if path.is_absolute() else base / path
        if not path.is_file():
            origin = "AEGRA_CONFIG" if explicit is None else "--config"
            raise ConfigError(f"Config file {path} (from {origin}) does not exist.")
        return path.resolve()
    for name in CONFIG_FILE_NAMES:
        path = base / name
        if path.is_file():
            return path.resolve()
    raise ConfigError(f"No config file found in {base}: create aegra.json (or langgraph.json), or set AEGRA_CONFIG.")


def _validation_error(exc: msgspec.ValidationError, source: Path, *, prefix: str = "") -> ConfigError:
    message = str(exc)
    key = prefix
    if match := _AT_PATH.search(message):
        message = message[: match.start()]
        key = ".".join(part for part in (prefix, match["path"]) if part)
    if missing := _MISSING_FIELD.match(message):
        key = ".".join(part for part in (key, missing["field"]) if part)
    return config_error(source, key or "(top level)", message)


def _check_entries(data: dict[str, Any], key: str, entry_type: Any, source: Path) -> None:
    """Validate each value of a mapping key one by one, so an error names the entry (`graphs.agent`)."""
    entries = data.get(key)
    if not isinstance(entries, dict):
        return
    for name, value in entries.items():
        try:
            msgspec.convert(value, type=entry_type)
        except msgspec.ValidationError as exc:
            raise _validation_error(exc, source, prefix=f"{key}.{name}") from None


def parse_config(raw: bytes, *, source: Path) -> AegraConfig:
    """Validate the bytes of a config file; errors name the file and the offending key."""
    try:
        data = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise ConfigError(f"Config file {source} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise config_error(source, "(top level)", f"expected a JSON object, got {type(data).__name__}")
    _check_entries(data, "graphs", str | GraphEntry, source)
    if isinstance(data.get("env"), dict):
        _check_entries(data, "env", str, source)
    data.pop("base_dir", None)
    data.pop("config_file", None)
    try:
        config = msgspec.convert(data, type=AegraConfig)
    except msgspec.ValidationError as exc:
        raise _validation_error(exc, source) from None
    if not config.graphs:
        raise config_error(source, "graphs", 'name at least one graph, e.g. {"agent": "./graph.py:graph"}')
    for graph_id, spec in config.graph_paths().items():
        module_ref, _, attr = spec.rpartition(":")
        if not module_ref or not attr:
            raise config_error(
                source,
                f"graphs.{graph_id}",
                f"expected './path/file.py:attribute' or 'package.module:attribute', got {spec!r}",
            )
    config = msgspec.structs.replace(config, base_dir=str(source.parent.resolve()), config_file=str(source.resolve()))
    if isinstance(config.env, str) and not config.resolve(config.env).is_file():
        raise config_error(source, "env", f"env file {config.resolve(config.env)} does not exist")
    return config


def load_config(explicit: str | Path | None = None) -> AegraConfig:
    """Resolve and load the config file."""
    path = resolve_config_path(explicit)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"Cannot read config file {path}: {exc.strerror}") from None
    return parse_config(raw, source=path)


def env_values(config: AegraConfig) -> dict[str, str]:
    """The variables of the config's `env` key: an inline mapping, or the contents of a .env file."""
    if config.env is None:
        return {}
    if isinstance(config.env, dict):
        return dict(config.env)
    path = config.resolve(config.env)
    try:
        values = dotenv_values(path)
    except OSError as exc:
        raise config.error("env", f"cannot read env file {path}: {exc.strerror}") from None
    return {name: value for name, value in values.items() if value is not None}


def apply_env(config: AegraConfig) -> list[str]:
    """Export the config's `env` into `os.environ` (variables already set win); return the names it set."""
    applied: list[str] = []
    for name, value in env_values(config).items():
        if name in os.environ:
            continue
        os.environ[name] = value
        applied.append(name)
    return applied
