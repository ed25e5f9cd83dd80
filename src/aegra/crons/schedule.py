"""Cron expressions: validation and next firing time (standard 5 fields, UTC unless a timezone is given)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

from aegra.errors import UnprocessableError

_REASON = (
    "Invalid cron schedule. Ensure the schedule uses the standard cron format "
    "(minute hour day_of_month month day_of_week). Example: '*/5 * * * *' for every 5 minutes."
)


def validate_schedule(schedule: str) -> str:
    """Return the schedule if it is a valid 5-field cron expression, else raise a 422 naming it."""
    if len(schedule.split()) != 5 or not croniter.is_valid(schedule):
        raise UnprocessableError(f"Invalid cron schedule: {schedule!r}. Reason: {_REASON}")
    return schedule


def validate_timezone(name: str | None) -> str | None:
    """Return an IANA timezone name unchanged, or raise a 422."""
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UnprocessableError(f"Invalid timezone: {name!r} is not an IANA timezone name") from exc
    return name


def next_fire_time(schedule: str, after: datetime, timezone: str | None = None) -> datetime:
    """The first firing strictly after `after`, as an aware UTC datetime."""
    zone = ZoneInfo(timezone) if timezone else UTC
    try:
        upcoming = croniter(schedule, after.astimezone(zone)).get_next(datetime)
    except (CroniterBadCronError, CroniterBadDateError) as exc:
        raise UnprocessableError(f"Invalid cron schedule: {schedule!r}. Reason: {exc}") from exc
    return upcoming.astimezone(UTC)
