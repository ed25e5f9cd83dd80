"""`/runs/crons` and `/threads/{thread_id}/runs/crons`: scheduled runs."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, delete, get, patch, post
from litestar.params import FromPath, JSONBody

from aegra.api.dependencies import Crons
from aegra.schemas.crons import Cron, CronCount, CronCreate, CronSearch, CronUpdate
from aegra.services.ids import parse_uuid
from aegra.services.pagination import pagination_headers
from aegra.services.serialization import project


class CronController(Controller):
    path = "/runs/crons"
    tags = ["Crons"]

    @post("/", operation_id="create_cron_runs_crons_post", status_code=200, summary="Create a stateless cron")
    async def create(self, cron_service: Crons, data: JSONBody[CronCreate]) -> Cron:
        return await cron_service.create(data)

    @post("/search", operation_id="search_crons_runs_crons_search_post", status_code=200)
    async def search(self, cron_service: Crons, data: JSONBody[CronSearch]) -> Response[list[Any]]:
        page = await cron_service.search(data)
        return Response([project(item, data.select) for item in page.items], headers=pagination_headers(page))

    @post("/count", operation_id="count_crons_runs_crons_count_post", status_code=200)
    async def count(self, cron_service: Crons, data: JSONBody[CronCount | None] = None) -> int:
        return await cron_service.count(data or CronCount())

    @get("/{cron_id:str}", operation_id="get_cron_runs_crons__cron_id__get")
    async def get_cron(self, cron_service: Crons, cron_id: FromPath[str]) -> Cron:
        return await cron_service.get(parse_uuid(cron_id, "cron"))

    @patch("/{cron_id:str}", operation_id="update_cron_runs_crons__cron_id__patch")
    async def update(self, cron_service: Crons, cron_id: FromPath[str], data: JSONBody[CronUpdate]) -> Cron:
        return await cron_service.update(parse_uuid(cron_id, "cron"), data)

    @delete("/{cron_id:str}", operation_id="delete_cron_runs_crons__cron_id__delete", status_code=204)
    async def delete_cron(self, cron_service: Crons, cron_id: FromPath[str]) -> None:
        await cron_service.delete(parse_uuid(cron_id, "cron"))


class ThreadCronController(Controller):
    path = "/threads/{thread_id:str}/runs/crons"
    tags = ["Crons"]

    @post("/", operation_id="create_thread_cron_threads__thread_id__runs_crons_post", status_code=200)
    async def create(self, cron_service: Crons, thread_id: FromPath[str], data: JSONBody[CronCreate]) -> Cron:
        return await cron_service.create(data, thread_id=parse_uuid(thread_id, "thread"))
