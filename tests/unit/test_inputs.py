"""The request check that keeps what PostgreSQL cannot hold out of the database, and the published error schema."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import aegra.api.openapi
from aegra.api.inputs import MAX_JSON_DEPTH, client_data_error, find_unstorable, might_be_unstorable
from aegra.app import create_app
from aegra.config import load_config
from aegra.settings import Settings
from tests.conftest import TEST_GRAPHS_CONFIG


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value",
    [
        {"text": "plain", "escaped": "\\u0000", "n": 2**63 - 1, "m": -(2**63), "flag": True, "x": 1.5e300},
        [None, "", 0, {"a": []}],
        _nested(MAX_JSON_DEPTH),
    ],
)
def test_storable_values_pass(value: Any) -> None:
    assert find_unstorable(value) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"a": "x\x00"}, "Strings must not contain NUL characters (\\u0000) (at `$.a`)"),
        ({"a": [{"b\x00": 1}]}, "Object keys must not contain NUL characters (\\u0000) (at `$.a[0]`)"),
        ({"n": 2**63}, "Integers must fit in 64 bits (-9223372036854775808 to 9223372036854775807) (at `$.n`)"),
        ([-(2**63) - 1], "Integers must fit in 64 bits (-9223372036854775808 to 9223372036854775807) (at `$[0]`)"),
        (_nested(MAX_JSON_DEPTH + 1), f"JSON is nested too deeply (at most {MAX_JSON_DEPTH} levels) (at `$"),
    ],
)
def test_unstorable_values_are_named_with_their_path(value: Any, message: str) -> None:
    assert (find_unstorable(value) or "").startswith(message)


def test_a_deep_path_is_shortened() -> None:
    message = find_unstorable({"a": _nested(MAX_JSON_DEPTH + 10)}) or ""

    assert message.endswith("(at `$.a[0][0][0][0][0][0][0]...`)")


@pytest.mark.parametrize(
    ("body", "suspicious"),
    [
        (b'{"metadata": {"a": 1}, "limit": 10}', False),
        (b'{"a": "\\u0000"}', True),
        (b'{"n": 1234567890123456789}', True),
        (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), True),
    ],
)
def test_the_raw_body_prefilter_never_misses(body: bytes, suspicious: bool) -> None:
    assert might_be_unstorable(body) is suspicious


class _DriverError(Exception):
    def __init__(self, message: str, sqlstate: str | None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def test_a_data_exception_anywhere_in_the_chain_is_a_client_error() -> None:
    wrapper = RuntimeError("while executing SELECT ...")
    wrapper.__cause__ = _DriverError('invalid input syntax for type uuid: "x"\nDETAIL: more', "22P02")

    assert client_data_error(wrapper) == 'invalid input syntax for type uuid: "x"'


@pytest.mark.parametrize("sqlstate", ["08006", "57P01", "53300", None])
def test_other_database_errors_are_not_client_errors(sqlstate: str | None) -> None:
    assert client_data_error(_DriverError("connection lost", sqlstate)) is None


def test_runs_batch_max_defaults_to_a_thousand_and_is_read_from_the_environment() -> None:
    assert Settings.from_env({}).runs_batch_max == 1000
    assert Settings.from_env({"RUNS_BATCH_MAX": "25"}).runs_batch_max == 25


def test_every_operation_documents_client_errors_as_detail_only() -> None:
    document = create_app(Settings(), load_config(TEST_GRAPHS_CONFIG)).openapi_schema.to_schema()
    operations = [op for item in document["paths"].values() for op in item.values() if isinstance(op, dict)]

    assert document["components"]["schemas"]["ErrorResponse"]["required"] == ["detail"]
    for operation in operations:
        client_errors = {code: response for code, response in operation["responses"].items() if code[0] == "4"}
        assert list(client_errors) == ["4XX"], operation["operationId"]
        assert client_errors["4XX"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorResponse"
        }


async def test_the_document_is_built_when_first_served_and_every_docs_path_serves_the_published_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    builds: list[int] = []
    document = aegra.api.openapi.document_client_errors
    monkeypatch.setattr(aegra.api.openapi, "document_client_errors", lambda spec: builds.append(1) or document(spec))
    app = create_app(Settings(), load_config(TEST_GRAPHS_CONFIG))
    built_at_startup = len(builds)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aegra") as http:
        docs = (await http.get("/docs/openapi.json")).json()  # what the /docs page loads
        published = (await http.get("/openapi.json")).json()

    assert built_at_startup == 0
    assert builds == [1]
    assert docs == published
    assert all("4XX" in op["responses"] for item in docs["paths"].values() for op in item.values())


def test_a_parameter_the_driver_cannot_encode_is_reported_by_its_reason_only() -> None:
    error = _DriverError(
        "invalid input for query argument $7: datetime.datetime(9999, 12, 31, 23, 59, ... (date value out of range)",
        "22000",
    )

    assert client_data_error(error) == "date value out of range"
