"""Alembic's entry for the manifest: run on the connection that ``app.core.database.upgrade``
opened (and locked); offline SQL is not supported."""

from __future__ import annotations

from alembic import context

from app.core.manifest import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the manifest's migrations through app.core.database.upgrade (opening a Manifest does)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=config.attributes.get("version_table", "manifest_version"),
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
