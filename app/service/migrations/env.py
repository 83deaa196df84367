"""Alembic's entry for the service's records (see ``app.core.database.run_migrations``)."""

from app.core.database import run_migrations
from app.service.tables import metadata

run_migrations(metadata)
