"""Alembic environment: runs on the connection handed over by leadsift.db."""

from __future__ import annotations

from alembic import context

from leadsift.models import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `leadsift db upgrade`, which provides the connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
