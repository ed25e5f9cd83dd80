"""`/store`: the long-term store shared by every thread, and by graphs through `get_store()`."""

from __future__ import annotations

from litestar import Controller, delete, get, post, put
from litestar.params import FromQuery, JSONBody

from aegra.api.dependencies import Store
from aegra.schemas.store import (
    StoreDeleteRequest,
    StoreItem,
    StoreListNamespacesRequest,
    StoreNamespacesResponse,
    StorePutRequest,
    StoreSearchRequest,
    StoreSearchResponse,
)


class StoreController(Controller):
    path = "/store"
    tags = ["Store"]

    @put("/items", operation_id="put_item_store_items_put", status_code=204, summary="Store or update an item")
    async def put_item(self, store_service: Store, data: JSONBody[StorePutRequest]) -> None:
        await store_service.put(data)

    @get("/items", operation_id="get_item_store_items_get", summary="Retrieve a single item (null when missing)")
    async def get_item(
        self,
        store_service: Store,
        key: FromQuery[str | None] = None,
        namespace: FromQuery[list[str] | None] = None,
        refresh_ttl: FromQuery[bool | None] = None,
    ) -> StoreItem | None:
        return await store_service.get(namespace, key, refresh_ttl=refresh_ttl)

    @delete("/items", operation_id="delete_item_store_items_delete", status_code=204, summary="Delete an item")
    async def delete_item(self, store_service: Store, data: JSONBody[StoreDeleteRequest]) -> None:
        await store_service.delete(data)

    @post("/items/search", operation_id="search_items_store_items_search_post", status_code=200)
    async def search_items(
        self, store_service: Store, data: JSONBody[StoreSearchRequest | None] = None
    ) -> StoreSearchResponse:
        return await store_service.search(data or StoreSearchRequest())

    @post("/namespaces", operation_id="list_namespaces_store_namespaces_post", status_code=200)
    async def list_namespaces(
        self, store_service: Store, data: JSONBody[StoreListNamespacesRequest | None] = None
    ) -> StoreNamespacesResponse:
        return await store_service.list_namespaces(data or StoreListNamespacesRequest())
