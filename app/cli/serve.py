"""``shegong serve``: the API and the UI in one process."""

from __future__ import annotations

import click

from app.cli.base import Ctx, fail, main
from app.cli.users import accounts_of
from app.core.errors import ShegongError


@main.command()
@click.option("--host", default=None, help="监听地址（默认 127.0.0.1）")
@click.option("--port", type=int, default=None)
@click.option("--ingest-default", is_flag=True, help="启动前导入默认知识库（未变则跳过）")
@click.pass_obj
def serve(obj: Ctx, host: str | None, port: int | None, ingest_default: bool) -> None:
    """启动问答服务（API + 网页界面）。"""
    import uvicorn

    from app.server import create_app

    settings = obj.settings
    if host:
        settings.host = host
    if port:
        settings.port = port
    try:
        settings.check_bind(users=accounts_of(settings).active_count())
        if ingest_default:
            from app.service.factory import build_ingestor

            report = build_ingestor(settings).ingest([settings.knowledge_dir])
            click.echo(f"默认知识库：新增 {report.added}，更新 {report.updated}，未变 {report.unchanged}", err=True)
        app = create_app(settings)
    except ShegongError as exc:
        fail(exc)
        return
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
