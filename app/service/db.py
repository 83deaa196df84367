"""The service database: every table the service writes (``app/service/tables.py``), so that one
backup copies them all; the knowledge base itself stays in the manifest. Text a person typed is
stored with ID and mobile numbers masked.

SQLite in the data dir by default (``DATA_DIR/service.sqlite3``, WAL); PostgreSQL where
``SHEGONG_DATABASE_URL`` names one. Opening it upgrades its schema first (one lock for every
process that starts at once), unless told not to.

>>> db = ServiceDB(Path("/tmp/svc.sqlite3"))                          # doctest: +SKIP
>>> with db.tx() as conn:                                             # doctest: +SKIP
...     conn.execute(insert(audit).values(...))
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table

from app.core.database import describe, insert_ignore, make_engine, sqlite_url, upgrade, upsert, writing
from app.service.tables import RECORDS


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class ServiceDB:
    """The records database by URL (a ``Path`` is a SQLite file); safe to share between threads."""

    def __init__(self, url: str | Path, *, upgrade_schema: bool = True) -> None:
        self.url = sqlite_url(url) if isinstance(url, Path) else url
        self.engine = make_engine(self.url)
        self.revision = upgrade(self.engine, RECORDS) if upgrade_schema else None

    def __repr__(self) -> str:
        return f"ServiceDB({describe(self.url)})"

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        """One write transaction: committed when the block ends, rolled back when it raises."""
        with writing(self.engine) as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reading."""
        with self.engine.connect() as conn:
            yield conn

    def insert_ignore(self, table: Table, **values: Any) -> Any:
        """``INSERT`` that does nothing where the row's key is taken (both dialects)."""
        return insert_ignore(self.engine, table, **values)

    def upsert(self, table: Table, key: str, /, **values: Any) -> Any:
        """``INSERT``, or ``UPDATE`` of the row whose ``key`` is taken (both dialects)."""
        return upsert(self.engine, table, key, **values)
