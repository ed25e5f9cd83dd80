"""`HEAD_REVISION` lets a start on a current schema skip Alembic; it must name the head Alembic itself finds."""

from aegra.db import migrate


def test_head_revision_constant_is_the_newest_migration_script() -> None:
    head = migrate.head_revision()

    assert head == migrate.HEAD_REVISION, (
        f"a migration script was added: set HEAD_REVISION in src/aegra/db/migrate.py to {head!r}"
    )
