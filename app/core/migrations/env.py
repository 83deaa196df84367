"""Alembic's entry for the manifest (see ``app.core.database.run_migrations``)."""

from app.core.database import run_migrations
from app.core.manifest import metadata

run_migrations(metadata)
