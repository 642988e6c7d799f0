"""Alembic's environment: run the migrations on the connection the store hands over."""

from __future__ import annotations

from alembic import context

from toefl_access.store.schema import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
