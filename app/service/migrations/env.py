"""Alembic's entry for the service's records: run on the connection that ``app.core.database.upgrade``
opened (and locked); offline SQL is not supported."""

from __future__ import annotations

from alembic import context

from app.service.tables import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the records' migrations with `shegong db upgrade` (app.core.database.upgrade)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=config.attributes.get("version_table", "alembic_version"),
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
