"""``shegong db``: the schemas of the records database and of the manifest (upgrade, current)."""

from __future__ import annotations

from collections.abc import Callable

import click
from sqlalchemy import Engine

from app.cli.base import Ctx, fail, main
from app.core.database import History
from app.core.errors import ShegongError


def _each(obj: Ctx, step: Callable[[Engine, History], str | None], say: Callable[[str | None], str]) -> None:
    """``step`` on the records database, then on the manifest, one line each."""
    from app.core.database import describe, make_engine
    from app.core.manifest import MANIFEST
    from app.service.tables import RECORDS

    s = obj.settings
    for what, url, history in (("记录数据库", s.service_db_url, RECORDS), ("知识库清单", s.manifest_url, MANIFEST)):
        try:
            engine = make_engine(url)
            revision = step(engine, history)
        except ShegongError as exc:
            fail(exc)
            return
        engine.dispose()
        click.echo(f"{what} {describe(url)}：{say(revision)}")


@main.group()
def db() -> None:
    """数据库结构：upgrade | current（记录数据库：账号、对话、待改进、操作记录；知识库清单）。

    默认是数据目录里的 SQLite 文件；设置 SHEGONG_DATABASE_URL=postgresql+psycopg://… 则两者都在 PostgreSQL 中。"""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(obj: Ctx) -> None:
    """把数据库结构升级到最新版本（服务启动时也会自动升级；多个进程同时启动只升级一次）。"""
    from app.core.database import upgrade

    _each(obj, upgrade, lambda rev: f"已是最新版本 {rev}。")


@db.command("current")
@click.pass_obj
def db_current(obj: Ctx) -> None:
    """显示数据库当前的结构版本。"""
    from app.core.database import current

    _each(obj, current, lambda rev: f"版本 {rev}" if rev else "未升级（运行 shegong db upgrade，或启动服务时自动升级）")
