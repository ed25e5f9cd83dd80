"""Alembic environment: always driven programmatically by `aegra.db.migrate` with a live connection."""

from alembic import context

from aegra.db.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run migrations through `aegra migrate`, which supplies the database connection.")

context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
