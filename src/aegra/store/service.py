"""`/store/*` operations on the process's store, with the input checks that keep client mistakes out of SQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import msgspec
from langgraph.store.base import NOT_PROVIDED, InvalidNamespaceError, Item, NotProvided, SearchItem
from langgraph.store.postgres.aio import AsyncPostgresStore

from aegra.adapters.langgraph_store import RANGE_OPERATORS
from aegra.auth.authorizer import NO_AUTH, Authorizer
from aegra.errors import BadRequestError, UnprocessableError
from aegra.schemas.store import (
    StoreDeleteRequest,
    StoreItem,
    StoreListNamespacesRequest,
    StoreNamespacesResponse,
    StorePutRequest,
    StoreSearchItem,
    StoreSearchRequest,
    StoreSearchResponse,
)
from aegra.services.serialization import iso

# (prefix, key) is the store's btree primary key; PostgreSQL refuses index entries over ~2.7 kB.
MAX_KEY_BYTES = 1024
MAX_NAMESPACE_BYTES = 1024
RESERVED_ROOT_LABEL = "langgraph"
FILTER_OPERATORS = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte"})
# A semantic page is cut from the top `offset + limit` hits, fetched at once; this bounds that window.
MAX_SEMANTIC_WINDOW = 10_000
# JSON text of U+0000, which PostgreSQL can store in neither `text` nor `jsonb`.
JSON_NUL = b"\\u0000"


def check_labels(labels: Sequence[str]) -> tuple[str, ...]:
    """Namespace labels are non-empty, dot-free strings (dots join them on the wire and in the database)."""
    for label in labels:
        if not label or "." in label:
            raise UnprocessableError(f"Namespace label {label!r} must be a non-empty string without periods")
        if "\x00" in label:
            raise UnprocessableError(f"Namespace label {label!r} must not contain NUL characters")
    return tuple(labels)


def check_item_namespace(labels: Sequence[str]) -> tuple[str, ...]:
    """The namespace of an item being written: at least one label, not reserved, not too long."""
    namespace = check_labels(labels)
    if not namespace:
        raise UnprocessableError("Namespace must have at least one label")
    if namespace[0] == RESERVED_ROOT_LABEL:
        raise UnprocessableError(f"Namespace root label {RESERVED_ROOT_LABEL!r} is reserved")
    size = len(".".join(namespace).encode())
    if size > MAX_NAMESPACE_BYTES:
        raise UnprocessableError(f"Namespace is too long: {size} bytes joined (at most {MAX_NAMESPACE_BYTES})")
    return namespace


def check_key(key: str) -> str:
    """A key names one item: non-empty, and free of NUL (PostgreSQL `text` cannot hold it)."""
    if not key:
        raise UnprocessableError("Key must be a non-empty string")
    if "\x00" in key:
        raise UnprocessableError("Key must not contain NUL characters")
    return key


def check_new_key(key: str) -> str:
    """The key of an item being written: also bounded in size."""
    size = len(check_key(key).encode())
    if size > MAX_KEY_BYTES:
        raise UnprocessableError(f"Key is too long: {size} bytes (at most {MAX_KEY_BYTES})")
    return key


def check_storable(value: Any, *, field: str) -> None:
    """PostgreSQL `jsonb` cannot hold U+0000 anywhere, in keys or strings."""
    if JSON_NUL in msgspec.json.encode(value):
        raise UnprocessableError(f"`{field}` must not contain NUL characters (\\u0000)")


def check_index(index: bool | list[str] | None) -> Literal[False] | list[str] | None:
    """`index`: null (the configured fields), false (do not embed) or the field paths to embed."""
    if index is True:
        raise UnprocessableError("`index` must be false, null or a list of field paths, not true")
    if isinstance(index, list) and not all(index):
        raise UnprocessableError("`index` field paths must be non-empty strings")
    return index


def normalize_filter(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    """Validate `filter`: `{field: value}` is equality; `{field: {"$op": value}}` uses the named operators."""
    if not raw:
        return None
    check_storable(raw, field="filter")
    normalized: dict[str, Any] = {}
    for field, condition in raw.items():
        if not isinstance(condition, dict):
            normalized[field] = condition
            continue
        operators = [name for name in condition if name.startswith("$")]
        if not operators:
            normalized[field] = {"$eq": condition}
            continue
        if len(operators) != len(condition):
            raise UnprocessableError(f"Filter on {field!r} mixes operators and plain keys; use {{'$eq': {{...}}}}")
        for name, operand in condition.items():
            if name not in FILTER_OPERATORS:
                allowed = ", ".join(sorted(FILTER_OPERATORS))
                raise UnprocessableError(f"Unsupported filter operator {name!r} on {field!r} (use one of {allowed})")
            if name in RANGE_OPERATORS and (isinstance(operand, bool) or not isinstance(operand, int | float | str)):
                raise UnprocessableError(f"Filter operator {name!r} on {field!r} needs a number or a string")
        normalized[field] = condition
    return normalized


def parse_query_namespace(raw: str | Sequence[str] | None) -> tuple[str, ...]:
    """`GET /store/items?namespace=a.b` (the SDK's form) or repeated `namespace=a&namespace=b`."""
    joined = raw if isinstance(raw, str) else ".".join(raw or ())
    return check_labels(joined.split("."))


def _item_fields(item: Item) -> dict[str, Any]:
    return {
        "namespace": list(item.namespace),
        "key": item.key,
        "value": item.value,
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
    }


def to_item(item: Item) -> StoreItem:
    """The wire shape of a stored item."""
    return StoreItem(**_item_fields(item))


def to_search_item(item: SearchItem) -> StoreSearchItem:
    """The wire shape of a search hit (with its score)."""
    return StoreSearchItem(**_item_fields(item), score=item.score)


class StoreService:
    """Put, get, delete, search and list namespaces on one LangGraph store.

    `@auth.on.store` handlers see each operation first and may rewrite it (typically prefixing `namespace` with the
    user's identity); the rewritten operation is the one performed, and its namespace is validated again.
    """

    def __init__(self, store: AsyncPostgresStore, *, auth: Authorizer = NO_AUTH) -> None:
        self.store = store
        self.auth = auth

    @property
    def semantic_search(self) -> bool:
        """Whether `query` ranks by similarity (an index is configured and pgvector is usable)."""
        return self.store.index_config is not None

    async def put(self, data: StorePutRequest) -> None:
        """Create or replace an item; `ttl` (minutes) falls back to `store.ttl.default_ttl` when omitted."""
        # namespace, key, value, index, ttl: what a `store.put` auth handler sees (and may change)
        operation = msgspec.structs.asdict(data) | {"namespace": check_item_namespace(data.namespace)}
        await self.auth.authorize("store", "put", operation)
        namespace = check_item_namespace(operation["namespace"])
        key = check_new_key(operation["key"])
        check_storable(operation["value"], field="value")
        ttl: float | NotProvided = NOT_PROVIDED if operation["ttl"] is None else operation["ttl"]
        try:
            await self.store.aput(namespace, key, operation["value"], index=check_index(operation["index"]), ttl=ttl)
        except InvalidNamespaceError as exc:
            raise UnprocessableError(str(exc)) from exc

    async def get(
        self, namespace: str | Sequence[str] | None, key: str | None, *, refresh_ttl: bool | None
    ) -> StoreItem | None:
        """The item, or None when it does not exist (or has expired)."""
        labels = parse_query_namespace(namespace)
        if not key:
            raise BadRequestError("Key is required")
        operation: dict[str, Any] = {"namespace": labels, "key": key, "refresh_ttl": refresh_ttl}
        await self.auth.authorize("store", "get", operation)
        item = await self.store.aget(
            check_labels(operation["namespace"]), check_key(operation["key"]), refresh_ttl=operation["refresh_ttl"]
        )
        return to_item(item) if item is not None else None

    async def delete(self, data: StoreDeleteRequest) -> None:
        """Delete an item; deleting a missing item is not an error."""
        operation: dict[str, Any] = {"namespace": check_labels(data.namespace), "key": data.key}
        await self.auth.authorize("store", "delete", operation)
        await self.store.adelete(check_labels(operation["namespace"]), check_key(operation["key"]))

    async def search(self, data: StoreSearchRequest) -> StoreSearchResponse:
        """Items under a prefix, newest first; with `query` and an index, most similar first (score set)."""
        # namespace (the prefix), filter, limit, offset, query, refresh_ttl: what a `store.search` handler sees
        fields = msgspec.structs.asdict(data)
        operation = {"namespace": check_labels(fields.pop("namespace_prefix")), **fields}
        auth_filter = await self.auth.authorize("store", "search", operation)
        if auth_filter:  # the handler's conditions win over the client's on the same field
            operation["filter"] = {**(operation["filter"] or {}), **auth_filter}
        data = msgspec.structs.replace(
            data,
            namespace_prefix=list(operation["namespace"]),
            filter=operation["filter"],
            limit=operation["limit"],
            offset=operation["offset"],
            query=operation["query"],
            refresh_ttl=operation["refresh_ttl"],
        )
        prefix = check_labels(data.namespace_prefix)
        conditions = normalize_filter(data.filter)
        if data.query and self.semantic_search:
            items = await self._rank(data, prefix, conditions)
        else:
            items = await self.store.asearch(
                prefix, filter=conditions, limit=data.limit, offset=data.offset, refresh_ttl=data.refresh_ttl
            )
        return StoreSearchResponse(items=[to_search_item(item) for item in items])

    async def _rank(
        self, data: StoreSearchRequest, prefix: tuple[str, ...], conditions: dict[str, Any] | None
    ) -> list[SearchItem]:
        """Embedded items by similarity, then (like langgraph-api) the items without an embedding, score null.

        The top `offset + limit` hits are fetched from the start: the store's own vector query only looks at a
        window of about `2 * limit` candidates, so asking it for a deep `offset` would come back short.
        """
        window = data.offset + data.limit
        if window > MAX_SEMANTIC_WINDOW:
            raise UnprocessableError(f"offset + limit must be at most {MAX_SEMANTIC_WINDOW} for a `query` search")
        ranked = await self.store.asearch(
            prefix, query=data.query, filter=conditions, limit=window, offset=0, refresh_ttl=data.refresh_ttl
        )
        page = ranked[data.offset :]
        if len(ranked) == window:
            return page
        # Every embedded match is in `ranked`; the rest of the page comes from the items without one.
        ranked_ids = {(item.namespace, item.key) for item in ranked}
        skip = max(0, data.offset - len(ranked))
        wanted = data.limit - len(page)
        candidates = await self.store.asearch(
            prefix, filter=conditions, limit=skip + wanted + len(ranked), offset=0, refresh_ttl=data.refresh_ttl
        )
        unranked = [item for item in candidates if (item.namespace, item.key) not in ranked_ids]
        return page + unranked[skip : skip + wanted]

    async def list_namespaces(self, data: StoreListNamespacesRequest) -> StoreNamespacesResponse:
        """Distinct namespaces in sorted order, optionally truncated to `max_depth` labels."""
        operation: dict[str, Any] = {
            "namespace": check_labels(data.prefix) if data.prefix else None,
            "suffix": check_labels(data.suffix) if data.suffix else None,
            "max_depth": data.max_depth,
            "limit": data.limit,
            "offset": data.offset,
        }
        await self.auth.authorize("store", "list_namespaces", operation)
        prefix, suffix = operation["namespace"], operation["suffix"]
        namespaces = await self.store.alist_namespaces(
            prefix=check_labels(prefix) if prefix else None,
            suffix=check_labels(suffix) if suffix else None,
            max_depth=operation["max_depth"],
            limit=operation["limit"],
            offset=operation["offset"],
        )
        return StoreNamespacesResponse(namespaces=[list(namespace) for namespace in namespaces])
