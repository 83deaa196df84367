"""The ``shegong`` group: its options (data dir, verbosity), the settings every command gets, and
how a domain error becomes a one-line Chinese message and exit code 1."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import click

from app.core.errors import ShegongError
from app.core.settings import Settings, disable_telemetry, load_settings


class Ctx:
    def __init__(self, data_dir: Path | None) -> None:
        overrides: dict[str, Any] = {}
        if data_dir is not None:
            overrides["data_dir"] = data_dir
        self.settings: Settings = load_settings(**overrides)


def fail(exc: ShegongError) -> None:
    raise click.ClickException(f"{exc} [{exc.code}]")


@click.group()
@click.option(
    "--data-dir", type=click.Path(path_type=Path), default=None, help="数据目录（默认 SHEGONG_DATA_DIR 或 ./data）"
)
@click.option("-v", "--verbose", is_flag=True, help="输出调试日志")
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None, verbose: bool) -> None:
    """社工AI助手 shegong：知识库管理与问答服务。"""
    disable_telemetry()
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "chromadb", "urllib3", "jieba", "bm25s", "sentence_transformers", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        ctx.obj = Ctx(data_dir)
    except ShegongError as exc:
        fail(exc)


def progress_printer(enabled: bool) -> Any:
    if not enabled:
        return None
    start = time.perf_counter()

    def show(done: int, total: int) -> None:
        elapsed = max(time.perf_counter() - start, 1e-6)
        rate = done / elapsed
        eta = (total - done) / rate if rate > 0 else 0
        click.echo(f"\r嵌入 {done}/{total} 段  {rate:.1f} 段/秒  预计剩余 {eta:.0f} 秒", err=True, nl=done >= total)

    return show
