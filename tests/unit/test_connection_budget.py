"""A process's connection budget against the database's room: the warning names the numbers and the settings."""

from __future__ import annotations

from aegra.db.budget import ServerRoom, budget_warning, process_budget
from aegra.settings import Settings


def test_the_default_budget_is_the_sum_the_deployment_docs_give() -> None:
    assert process_budget(Settings.from_env({})) == 10 + 20 + 20 + 3


def test_a_budget_that_fits_says_nothing() -> None:
    assert budget_warning(53, ServerRoom(max_connections=100, reserved=3, in_use=44)) is None


def test_a_budget_past_the_room_left_names_the_numbers_and_the_settings() -> None:
    warning = budget_warning(53, ServerRoom(max_connections=100, reserved=3, in_use=60))

    assert warning is not None
    assert "may open 53 connections" in warning
    assert "room for 37" in warning
    assert "LANGGRAPH_MAX_POOL_SIZE" in warning


def test_a_full_server_reports_no_room_rather_than_a_negative_count() -> None:
    warning = budget_warning(23, ServerRoom(max_connections=100, reserved=3, in_use=120))

    assert warning is not None
    assert "room for 0" in warning
