"""Advanced Alchemy repositories over Aegra's metadata tables."""

from __future__ import annotations

from advanced_alchemy.repository import SQLAlchemyAsyncRepository

from aegra.db.models import Assistant, AssistantVersion, Cron, Run, Thread


class AssistantRepository(SQLAlchemyAsyncRepository[Assistant]):
    model_type = Assistant
    id_attribute = "assistant_id"


class AssistantVersionRepository(SQLAlchemyAsyncRepository[AssistantVersion]):
    model_type = AssistantVersion


class ThreadRepository(SQLAlchemyAsyncRepository[Thread]):
    model_type = Thread
    id_attribute = "thread_id"


class RunRepository(SQLAlchemyAsyncRepository[Run]):
    model_type = Run
    id_attribute = "run_id"


class CronRepository(SQLAlchemyAsyncRepository[Cron]):
    model_type = Cron
    id_attribute = "cron_id"
