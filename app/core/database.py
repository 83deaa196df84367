"""Databases by URL, on SQLAlchemy: SQLite (WAL) in the data dir by default, PostgreSQL where
``SHEGONG_DATABASE_URL=postgresql+psycopg://...`` names one; schemas are upgraded with Alembic.

:func:`upgrade` runs a migration history (a folder of Alembic revisions) under one lock, so that
several processes starting at once upgrade a database exactly once: SQLite's own write lock
(``BEGIN IMMEDIATE``) or, on PostgreSQL, a transaction-scoped advisory lock. A database made by
code older than its history (its tables there, no version row) is stamped with the revision that
created those tables, then upgraded from there.

>>> engine = make_engine(sqlite_url(Path("data/service.sqlite3")))   # doctest: +SKIP
>>> upgrade(engine, RECORDS)                                          # doctest: +SKIP
'0001'
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, MetaData, Table, create_engine, event, inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from app.core.errors import ConfigError

log = logging.getLogger(__name__)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def describe(url: str) -> str:
    """The URL without its password, for logs and messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "（无法解析的地址）"


def make_engine(url: str, *, sqlite_synchronous: str | None = None) -> Engine:
    """An engine for ``url``. SQLite gets WAL, foreign keys, a 30 s busy wait, and ``BEGIN
    IMMEDIATE`` for a transaction opened with :func:`writing` (a writer waits for the lock up front
    instead of failing half-way; readers never wait); PostgreSQL gets connections checked before use."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"数据库地址无法解析：{describe(url)}（{exc}）") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", lambda conn, rec: _sqlite_connect(conn, sqlite_synchronous))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise ConfigError(f"不支持的数据库：{parsed.get_backend_name()}；可用 SQLite（默认）或 PostgreSQL（postgresql+psycopg://…）。")
    try:
        return create_engine(parsed, pool_pre_ping=True)
    except NoSuchModuleError as exc:
        raise ConfigError(f"数据库驱动不可用：{exc}；PostgreSQL 请用 postgresql+psycopg://…") from exc


def _sqlite_connect(dbapi_conn: Any, synchronous: str | None) -> None:
    dbapi_conn.isolation_level = None  # transactions are begun by the "begin" listener
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    if synchronous:
        cur.execute(f"PRAGMA synchronous={synchronous}")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")


_WRITE = "shegong_write"


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """One write transaction: committed when the block ends, rolled back when it raises. On SQLite
    it takes the write lock at its start (waiting up to 30 s for another writer)."""
    with engine.connect() as conn:
        conn.execution_options(**{_WRITE: True})
        with conn.begin():
            yield conn


@dataclass(frozen=True)
class History:
    """One migration history: its folder of revisions, its version table, and how to recognise a
    database written before the history existed (``legacy_table`` present, created by ``baseline``)."""

    name: str
    folder: Path
    version_table: str
    legacy_table: str
    baseline: str


def _config(history: History, connection: Any) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(history.folder))
    cfg.attributes["connection"] = connection
    cfg.attributes["version_table"] = history.version_table
    return cfg


def current(engine: Engine, history: History) -> str | None:
    """The revision the database is at (None: never upgraded)."""
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"version_table": history.version_table})
            return ctx.get_current_revision()
    except OperationalError as exc:
        raise ConfigError(f"无法连接数据库 {describe(str(engine.url))}：{exc.orig}") from exc


def upgrade(engine: Engine, history: History, revision: str = "head") -> str | None:
    """Bring the database to ``revision`` under one lock; returns the revision it is then at."""
    try:
        with writing(engine) as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(history.name.encode())})
            tables = set(inspect(conn).get_table_names())
            cfg = _config(history, conn)
            if history.version_table not in tables and history.legacy_table in tables:
                log.info("%s: a database written before migrations; stamping %s", history.name, history.baseline)
                command.stamp(cfg, history.baseline)
            command.upgrade(cfg, revision)
            ctx = MigrationContext.configure(conn, opts={"version_table": history.version_table})
            return ctx.get_current_revision()
    except OperationalError as exc:
        raise ConfigError(f"无法升级数据库 {describe(str(engine.url))}：{exc.orig}") from exc


# -- what differs between the two dialects --------------------------------------------------------
def dialect_insert(engine: Engine, table: Table) -> Any:
    """An ``INSERT`` of the engine's dialect, which has ``ON CONFLICT`` (SQLite and PostgreSQL)."""
    return (postgresql if engine.dialect.name == "postgresql" else sqlite).insert(table)


def upsert(engine: Engine, table: Table, conflict: str, /, **values: Any) -> Any:
    """``INSERT``, or ``UPDATE`` of the row whose ``conflict`` column is taken."""
    ins = dialect_insert(engine, table).values(**values)
    return ins.on_conflict_do_update(index_elements=[conflict], set_={k: v for k, v in values.items() if k != conflict})


def insert_ignore(engine: Engine, table: Table, **values: Any) -> Any:
    """``INSERT`` that does nothing where the row's key is taken."""
    return dialect_insert(engine, table).values(**values).on_conflict_do_nothing()


def run_migrations(metadata: MetaData) -> None:
    """The body of a history's Alembic ``env.py``: run on the connection that :func:`upgrade`
    opened (and locked); offline SQL is not supported."""
    from alembic import context

    config = context.config
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through app.core.database.upgrade (shegong db upgrade)")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=config.attributes["version_table"],
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    )
    with context.begin_transaction():
        context.run_migrations()
