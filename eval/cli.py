"""``shegong eval TESTSET``: run a test set through the project and the naive reference, write
``metrics.json`` and ``report.html``.

Registered in app/cli/__init__.py with ``main.add_command(eval_cmd)``; takes the data dir from the group's
context object (``obj.settings``), like every other command.

    shegong eval eval/sets/starter.jsonl                  # knowledge/ + ../shared/seeds
    shegong eval ncp_policy --limit 50                    # an external set by its short name
    shegong eval starter --docs ../shared/seeds --tag seeds --tag unanswerable   # the seeds alone
    shegong eval starter --compare data/eval/runs/OLD     # differences to an earlier run
    shegong eval starter --against http://127.0.0.1:8000 --token T
    shegong eval export --out eval/sets/curated.jsonl     # trainers' curated cases from the service
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from app.core.errors import ShegongError


def _headline(data: dict[str, Any]) -> str:
    from eval.report import fmt

    m = data["metrics"]
    parts = [f"{m['cases']} 题", f"recall@5 {fmt('recall@5', m.get('recall@5'))}",
             f"答案正确率 {fmt('answer_accuracy', m.get('answer_accuracy'))}"]
    if m.get("refusal_accuracy") is not None:
        parts.append(f"拒答率（不可答题）{fmt('refusal_accuracy', m['refusal_accuracy'])}")
    line = "本项目：" + "，".join(parts)
    nv = (data.get("naive") or {}).get("metrics")
    if nv:
        line += (f"\n朴素参照：recall@5 {fmt('recall@5', nv.get('recall@5'))}，"
                 f"答案正确率 {fmt('answer_accuracy', nv.get('answer_accuracy'))}")
    cmp = data.get("compare")
    if cmp:
        line += f"\n与上次相比：答对变多 {cmp['fixed']} 题，答错变多 {cmp['broken']} 题"
    return line


@click.command("eval")
@click.argument("testset")
@click.option("--docs", "docs", multiple=True, type=click.Path(path_type=Path),
              help="知识库文件或文件夹（可重复；默认：自有测试集用 knowledge/ 和 ../shared/seeds，外部集用对应的 NAME.docs.jsonl）")
@click.option("--against", default=None, metavar="URL", help="评测一个正在运行的服务（/api/search 与 /api/chat），不导入")
@click.option("--token", default=None, help="--against 服务的访问令牌")
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="输出目录（默认 DATA_DIR/eval/runs/<UTC 时间>-<测试集名>）")
@click.option("--compare", type=click.Path(path_type=Path, exists=True, file_okay=False), default=None,
              metavar="OLD_DIR", help="与之前一次运行的输出目录对比")
@click.option("--no-naive", is_flag=True, help="不运行朴素参照流程")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="只评测前 N 题（快速检查）")
@click.option("--tag", "tags", multiple=True, help="只评测带这个标签的题（可重复，任一匹配即可），如 --tag seeds --tag unanswerable")
@click.option("--kb-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="直接使用一个已导入好的数据目录作为知识库（不再导入）；外部集默认会复用 DATA_DIR/ext/NAME")
@click.option("--naive-max-docs", type=click.IntRange(min=1), default=None,
              help="朴素参照最多检索的文档数（标准答案文档 + 固定随机抽样），报告中会注明")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出指标")
@click.pass_obj
def eval_cmd(obj: Any, testset: str, docs: tuple[Path, ...], against: str | None, token: str | None,
             out: Path | None, compare: Path | None, no_naive: bool, limit: int | None, kb_dir: Path | None,
             naive_max_docs: int | None, as_json: bool, tags: tuple[str, ...]) -> None:
    """评测：用测试集检查检索和回答质量，与朴素 RAG 参照对比，生成 metrics.json 和 report.html。

    `shegong eval export [--out FILE]` 则把培训员在服务中加入的评测题导出为测试集文件。
    """
    import httpx

    if testset == "export":
        export_curated(obj.settings, out or Path("eval/sets/curated.jsonl"))
        return

    from eval.runner import default_out_dir, resolve_testset, run_eval, set_name

    settings = obj.settings
    try:
        path = resolve_testset(testset)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    out_dir = out or default_out_dir(settings, set_name(path))
    try:
        data = run_eval(path, out_dir, docs=list(docs) or None, against=against, token=token, settings=settings,
                        compare=compare, naive=not no_naive, limit=limit, kb_dir=kb_dir,
                        naive_max_docs=naive_max_docs, tags=tags)
    except ShegongError as exc:
        raise click.ClickException(f"{exc} [{exc.code}]") from exc
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    except httpx.HTTPError as exc:
        raise click.ClickException(f"无法评测服务 {against}：{exc}") from exc
    if as_json:
        nv = data.get("naive") or {}
        click.echo(json.dumps({"out": str(out_dir), "metrics": data["metrics"], "by_tag": data["by_tag"],
                               "naive": nv.get("metrics"), "compare": (data.get("compare") or {}).get("metrics")},
                              ensure_ascii=False, indent=1))
        return
    click.echo(_headline(data))
    for note in data.get("notes", []):
        click.echo(f"注意：{note}")
    click.echo(f"报告：{out_dir / 'report.html'}")


def export_curated(settings: Any, target: Path) -> None:
    """Append the trainers' curated cases (service database) to a test-set file, once each."""
    from app.service.db import ServiceDB
    from app.service.records import ReviewQueue

    if not settings.database_url and not settings.service_db_path.is_file():
        raise click.ClickException(f"数据目录 {settings.data_dir} 中还没有服务数据库，没有可导出的评测题。")
    db = ServiceDB(settings.service_db_url)
    try:
        cases = ReviewQueue(db).cases()
    finally:
        db.close()
    have: set[str] = set()
    if target.is_file():
        have = {json.loads(line)["id"] for line in target.read_text(encoding="utf-8").splitlines() if line.strip()}
    new = [c for c in cases if c["id"] not in have]
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a", encoding="utf-8") as fh:
        for c in new:
            fh.write(json.dumps(c, ensure_ascii=False) + "\n")
    click.echo(f"已导出 {len(new)} 道新评测题到 {target}（共 {len(cases)} 道，{len(cases) - len(new)} 道已在文件中）")
