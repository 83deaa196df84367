"""``shegong serve``: the API and the UI, in one process or in ``--workers N`` (uvicorn's own
worker processes, each a full node, sharing the port)."""

from __future__ import annotations

import os
from typing import Any

import click

from app.cli.base import Ctx, fail, main
from app.cli.users import accounts_of
from app.core.errors import ConfigError, ShegongError


@main.command()
@click.option("--host", default=None, help="监听地址（默认 127.0.0.1）")
@click.option("--port", type=int, default=None)
@click.option("--ingest-default", is_flag=True, help="启动前导入默认知识库（未变则跳过）")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="工作进程数；大于 1 时需要 SHEGONG_CHROMA_URL 和 SHEGONG_REDIS_URL")
@click.pass_obj
def serve(obj: Ctx, host: str | None, port: int | None, ingest_default: bool, workers: int) -> None:
    """启动问答服务（API + 网页界面）。"""
    import uvicorn

    from app.server import create_app

    settings = obj.settings
    if host:
        settings.host = host
    if port:
        settings.port = port
    try:
        if workers > 1 and not (settings.chroma_url and settings.redis_url):
            raise ConfigError("多个工作进程要共用向量库和限流：请设置 SHEGONG_CHROMA_URL（Chroma 服务）和 "
                              "SHEGONG_REDIS_URL（Redis）；内嵌的 Chroma 文件不能被多个进程同时写。")
        settings.check_bind(users=accounts_of(settings).active_count())
        if ingest_default:
            from app.service.factory import build_ingestor

            report = build_ingestor(settings).ingest([settings.knowledge_dir])
            click.echo(f"默认知识库：新增 {report.added}，更新 {report.updated}，未变 {report.unchanged}", err=True)
        if workers > 1:  # each worker builds its node from these settings (the options above included)
            os.environ[_SETTINGS_ENV] = settings.model_dump_json()
        else:
            app = create_app(settings)
    except ShegongError as exc:
        fail(exc)
        return
    if workers > 1:
        uvicorn.run("app.cli.serve:worker_app", factory=True, workers=workers, host=settings.host,
                    port=settings.port, log_level="info")
    else:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")


_SETTINGS_ENV = "SHEGONG_WORKER_SETTINGS"


def worker_app() -> Any:
    """One ``--workers`` process's app, from the settings ``serve`` resolved (uvicorn's factory)."""
    from app.core.settings import Settings
    from app.server import create_app

    return create_app(Settings.model_validate_json(os.environ[_SETTINGS_ENV]))
