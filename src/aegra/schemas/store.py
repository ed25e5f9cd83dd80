"""Request and response bodies of `/store/*` (the long-term store)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from aegra.schemas.common import MAX_TTL_MINUTES, JsonObject, Limit, Offset

TtlMinutes = Annotated[
    float, msgspec.Meta(gt=0, le=MAX_TTL_MINUTES, description="Minutes until the item expires (at most 100 years).")
]
MaxDepth = Annotated[int, msgspec.Meta(ge=1, description="Truncate namespaces to this many labels.")]


class StorePutRequest(msgspec.Struct, kw_only=True):
    """`PUT /store/items`: create or replace one item."""

    namespace: list[str]
    key: str
    value: JsonObject
    index: bool | list[str] | None = None  # true is refused with a clear message by the service
    ttl: TtlMinutes | None = None


class StoreDeleteRequest(msgspec.Struct, kw_only=True):
    """`DELETE /store/items`: remove one item (no error when it does not exist)."""

    namespace: list[str]
    key: str


class StoreSearchRequest(msgspec.Struct, kw_only=True):
    """`POST /store/items/search`: items under a namespace prefix, filtered, optionally ranked by `query`."""

    namespace_prefix: list[str] = msgspec.field(default_factory=list)
    filter: JsonObject | None = None
    limit: Limit = 10
    offset: Offset = 0
    query: str | None = None
    refresh_ttl: bool | None = None


class StoreListNamespacesRequest(msgspec.Struct, kw_only=True):
    """`POST /store/namespaces`: the distinct namespaces, matched by prefix and/or suffix (`*` = any label)."""

    prefix: list[str] | None = None
    suffix: list[str] | None = None
    max_depth: MaxDepth | None = None
    limit: Limit = 100
    offset: Offset = 0


class StoreItem(msgspec.Struct, kw_only=True):
    """One stored item."""

    namespace: list[str]
    key: str
    value: JsonObject
    created_at: str
    updated_at: str


class StoreSearchItem(msgspec.Struct, kw_only=True):
    """A search hit: the item plus its similarity `score` (null unless `query` ran a semantic search)."""

    namespace: list[str]
    key: str
    value: JsonObject
    created_at: str
    updated_at: str
    score: float | None


class StoreSearchResponse(msgspec.Struct, kw_only=True):
    items: list[StoreSearchItem]


class StoreNamespacesResponse(msgspec.Struct, kw_only=True):
    namespaces: list[list[str]]
