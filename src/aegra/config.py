"""aegra.json / langgraph.json: the model, the file resolution order and the loader."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from aegra.errors import ConfigError

CONFIG_FILE_NAMES: tuple[str, ...] = ("aegra.json", "langgraph.json")


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
    """The parsed configuration file. Unknown keys (e.g. langgraph.json build keys) are ignored."""

    graphs: dict[str, str | GraphEntry]
    dependencies: list[str] = msgspec.field(default_factory=list)
    env: str | dict[str, str] | None = None
    auth: AuthConfig | None = None
    http: HttpConfig | None = None
    store: StoreConfig | None = None
    checkpointer: CheckpointerConfig | None = None
    base_dir: str = ""

    def graph_paths(self) -> dict[str, str]:
        """Map graph id → import spec (`path/to/file.py:attr` or `package.module:attr`)."""
        return {graph_id: entry if isinstance(entry, str) else entry.path for graph_id, entry in self.graphs.items()}

    def graph_descriptions(self) -> dict[str, str | None]:
        return {
            graph_id: None if isinstance(entry, str) else entry.description for graph_id, entry in self.graphs.items()
        }


def resolve_config_path(explicit: str | Path | None = None, *, cwd: Path | None = None) -> Path:
    """Find the config file: explicit path → `AEGRA_CONFIG` → ./aegra.json → ./langgraph.json."""
    base = cwd if cwd is not None else Path.cwd()
    candidate = explicit if explicit is not None else os.environ.get("AEGRA_CONFIG") or None
    if candidate is not None:
        path = Path(candidate)
        path = path if path.is_absolute() else base / path
        if not path.is_file():
            raise ConfigError(f"Config file {path} does not exist.")
        return path
    for name in CONFIG_FILE_NAMES:
        path = base / name
        if path.is_file():
            return path
    raise ConfigError(f"No config file found in {base}: create aegra.json (or langgraph.json), or set AEGRA_CONFIG.")


def parse_config(raw: bytes, *, source: Path) -> AegraConfig:
    """Validate the bytes of a config file; errors name the offending key and the file."""
    try:
        config = msgspec.json.decode(raw, type=AegraConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"Invalid config file {source}: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise ConfigError(f"Config file {source} is not valid JSON: {exc}") from exc
    if not config.graphs:
        raise ConfigError(f"Invalid config file {source}: `graphs` must name at least one graph - at `$.graphs`")
    for graph_id, spec in config.graph_paths().items():
        if ":" not in spec:
            raise ConfigError(
                f"Invalid config file {source}: graph {graph_id!r} must look like "
                f"'./path/file.py:attribute' or 'package.module:attribute', got {spec!r} - at `$.graphs.{graph_id}`"
            )
    return msgspec.structs.replace(config, base_dir=str(source.parent.resolve()))


def load_config(explicit: str | Path | None = None) -> AegraConfig:
    """Resolve and load the config file."""
    path = resolve_config_path(explicit)
    return parse_config(path.read_bytes(), source=path)
