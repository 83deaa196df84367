"""The evaluators' runner: one test set through the project (and the naive reference) into
``metrics.json`` and a self-contained ``report.html``.

Test sets come in two shapes:

* own sets (``eval/sets/*.jsonl``): the harness format (evidence strings, answer keywords, tags);
* external sets (``../shared/external/NAME.eval.jsonl``: ``id, question, answers, gold_doc_ids``):
  a hit is a chunk of a gold document, and an answer is correct when it holds any one of the
  reference answers (compared without punctuation or spaces).

In process (the default) the knowledge base is ingested by the real Ingestor into a persistent
``DATA_DIR/eval-kb/<set>-<hash of the doc paths>``, so a second run re-embeds nothing; an external
set whose docs were already ingested into ``DATA_DIR/ext/NAME`` (or a ``kb_dir`` given) is used as
it is, without ingesting. With ``against=URL`` a running server is asked instead.

>>> run_eval(Path("eval/sets/starter.jsonl"), Path("/tmp/run"), docs=None, against=None,
...          token=None, settings=load_settings(), compare=None)           # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.settings import Settings
from eval import external
from eval.harness import Case, CaseResult, load_cases, metrics, metrics_by_tag, results_as_dicts, run_cases

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
OWN_SETS = ROOT / "eval" / "sets"
K_CURVE = 10
# Metrics where a smaller number is the better one (for colouring differences).
LOWER_IS_BETTER = {"latency_ms_p50", "latency_ms_p95", "false_refusals"}


@dataclass
class TestSet:
    path: Path
    name: str
    kind: str  # own | external
    cases: list[Case]


# ------------------------------------------------------------------------------------------------
# Test sets


def resolve_testset(arg: str | Path) -> Path:
    """A path, the short name of an external set (``ncp_policy``) or of an own set (``starter``)."""
    path = Path(arg)
    if path.is_file():
        return path
    name = str(arg)
    for candidate in (external.external_dir() / f"{name}.eval.jsonl", OWN_SETS / f"{name}.jsonl"):
        if candidate.is_file():
            return candidate
    known = ", ".join([*external.SETS, *(p.stem for p in sorted(OWN_SETS.glob("*.jsonl")))])
    raise FileNotFoundError(f"test set {arg!r} not found: give a JSONL file or one of {known}")


def set_name(path: Path) -> str:
    name = path.name
    for suffix in (".eval.jsonl", ".jsonl"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _first_row(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row: dict[str, Any] = json.loads(line)
                return row
    return {}


def is_external(path: Path) -> bool:
    row = _first_row(path)
    return ("answers" in row or "gold_doc_ids" in row) and "evidence" not in row and "answer_keywords" not in row


def external_cases(path: Path, name: str | None = None) -> list[Case]:
    """An external eval file as Cases: gold doc ids decide hits, reference answers decide answers."""
    name = name or set_name(path)
    cases = []
    for lineno, row in enumerate(external.read_jsonl(path), 1):
        try:
            answers = [str(a) for a in row.get("answers") or []]  # type: ignore[attr-defined]
            cases.append(Case(
                id=str(row["id"]), question=str(row["question"]), answerable=True,
                evidence=[], answer_keywords=[], tags=[name],
                history=list(row.get("history") or []),  # type: ignore[call-overload]
                gold_doc_ids=[str(g) for g in row.get("gold_doc_ids") or []],  # type: ignore[attr-defined]
                reference_answers=answers,
            ))
        except KeyError as exc:
            raise ValueError(f"{path}:{lineno}: missing field {exc}") from exc
    return cases


def load_testset(path: Path) -> TestSet:
    name = set_name(path)
    if is_external(path):
        return TestSet(path, name, "external", external_cases(path, name))
    return TestSet(path, name, "own", load_cases(path))


def default_docs(ts: TestSet, settings: Settings) -> list[Path]:
    """Own sets: knowledge/ and ../shared/seeds; external sets: the matching NAME.docs.jsonl."""
    if ts.kind == "external":
        return [ts.path.with_name(f"{ts.name}.docs.jsonl")]
    seeds = external.external_dir().parent / "seeds"
    return [settings.knowledge_dir, *([seeds] if seeds.is_dir() else [])]


def _docs_key(docs: Sequence[Path]) -> str:
    joined = "\n".join(sorted(str(Path(d).resolve()) for d in docs))
    return hashlib.sha1(joined.encode()).hexdigest()[:8]


def _prebuilt(directory: Path) -> bool:
    return (directory / "manifest.sqlite3").is_file()


# ------------------------------------------------------------------------------------------------
# Progress


@contextmanager
def _bar(desc: str, total: int, enabled: bool) -> Iterator[Callable[[int, int], None]]:
    """A tqdm bar on stderr fed by ``(done, total)`` callbacks."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, file=sys.stderr, disable=not enabled, leave=False, dynamic_ncols=True)

    def update(done: int, new_total: int) -> None:
        if bar.total != new_total:
            bar.total = new_total
            bar.refresh()
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()


def _run(runner: Any, cases: list[Case], desc: str, show: bool) -> list[CaseResult]:
    with _bar(desc, len(cases), show and len(cases) > 1) as update:
        return run_cases(runner, cases, progress=lambda i: update(i, len(cases)))


# ------------------------------------------------------------------------------------------------
# Figures


def recall_curve(results: Sequence[CaseResult], k_max: int = K_CURVE) -> list[float | None]:
    """recall@k for k = 1..k_max over the answerable cases."""
    ranks = [r.first_relevant_rank for r in results if r.answerable]
    if not ranks:
        return [None] * k_max
    return [round(sum(1 for x in ranks if x is not None and x <= k) / len(ranks), 4) for k in range(1, k_max + 1)]


def _block(results: list[CaseResult]) -> dict[str, Any]:
    return {
        "metrics": metrics(results),
        "by_tag": metrics_by_tag(results),
        "recall_curve": recall_curve(results),
        "cases": results_as_dicts(results),
    }


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{out}{'+dirty' if dirty else ''}" if out else None


def _hit(r: dict[str, Any], k: int = 5) -> bool:
    rank = r.get("first_relevant_rank")
    return isinstance(rank, int) and 0 < rank <= k


def compare_runs(new: dict[str, Any], old: dict[str, Any], old_dir: Path) -> dict[str, Any]:
    """Per-metric differences (project and naive) and the cases whose correctness or hit@5 changed."""

    def deltas(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
        a, b = a or {}, b or {}
        out = {}
        for key in [*b, *(k for k in a if k not in b)]:
            nv, ov = b.get(key), a.get(key)
            num = isinstance(nv, int | float) and isinstance(ov, int | float)
            out[key] = {"old": ov, "new": nv, "delta": round(nv - ov, 4) if num else None}  # type: ignore[operator]
        return out

    old_cases = {c["id"]: c for c in old.get("cases", [])}
    new_cases = {c["id"]: c for c in new.get("cases", [])}
    changed = []
    for cid, c in new_cases.items():
        o = old_cases.get(cid)
        if o is None:
            continue
        if bool(o["correct"]) != bool(c["correct"]) or _hit(o) != _hit(c):
            changed.append({
                "id": cid, "question": c["question"],
                "old_correct": bool(o["correct"]), "new_correct": bool(c["correct"]),
                "old_rank": o.get("first_relevant_rank"), "new_rank": c.get("first_relevant_rank"),
                "old_answer": o.get("answer", ""), "new_answer": c.get("answer", ""),
                "old_refused": bool(o.get("refused")), "new_refused": bool(c.get("refused")),
            })
    old_naive, new_naive = old.get("naive") or {}, new.get("naive") or {}
    return {
        "old_dir": str(old_dir),
        "old_config": old.get("config", {}),
        "old_curve": old.get("recall_curve"),
        "metrics": deltas(old.get("metrics"), new.get("metrics")),
        "naive_metrics": deltas(old_naive.get("metrics"), new_naive.get("metrics")) if old_naive and new_naive else {},
        "changed": changed,
        "fixed": sum(1 for c in changed if c["new_correct"] and not c["old_correct"]),
        "broken": sum(1 for c in changed if c["old_correct"] and not c["new_correct"]),
        "only_new": sorted(set(new_cases) - set(old_cases)),
        "only_old": sorted(set(old_cases) - set(new_cases)),
    }


# ------------------------------------------------------------------------------------------------
# The run


def _server_health(base_url: str, token: str | None) -> dict[str, Any]:
    """What a running server says about its knowledge base (empty when it does not say)."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        health = httpx.get(base_url.rstrip("/") + "/api/health", headers=headers, timeout=30).json()
    except (httpx.HTTPError, ValueError):
        return {}
    if not isinstance(health, dict):
        return {}
    embedder = health.get("embedder") if isinstance(health.get("embedder"), dict) else {}
    return {"documents": health.get("documents"), "chunks": health.get("chunks"),
            "embed_model": (embedder or {}).get("model")}


def _kb_settings(settings: Settings, data_dir: Path) -> Settings:
    return settings.model_copy(update={"data_dir": data_dir, "models_dir_override": settings.models_dir})


def _ingest(kb: Settings, docs: list[Path], embedder: Any, show: bool) -> dict[str, Any]:
    from app.service.factory import build_ingestor

    ing = build_ingestor(kb, embedder)
    try:
        with _bar("ingest: embedding", 0, show) as update:
            report = ing.ingest(docs, progress=update)
    finally:
        ing.manifest.close()
    return {"added": report.added, "updated": report.updated, "unchanged": report.unchanged,
            "failed": report.failed[:20], "failed_count": len(report.failed),
            "chunks_embedded": report.chunks_embedded, "seconds": round(report.seconds, 1)}


def _naive(ts: TestSet, cases: list[Case], docs: list[Path], settings: Settings, embedder: Any, show: bool,
           max_docs: int | None) -> dict[str, Any]:
    from eval import naive as nv

    t0 = time.perf_counter()
    all_docs = nv.read_docs(docs)
    used = all_docs
    note = ""
    if max_docs and len(all_docs) > max_docs:
        gold = {g for c in ts.cases for g in c.gold_doc_ids}
        used = nv.sample_docs(all_docs, max_docs, gold)
        note = (f"朴素参照只检索 {len(used)} / {len(all_docs)} 个文档（全部标准答案文档 + 固定随机抽样的干扰文档），"
                f"比本项目的全量知识库容易；本项目检索的是全部文档。")
    chunks = nv.split_docs(used)
    index = nv.NaiveIndex(settings.data_dir / "eval-naive" / f"{ts.name}-{_docs_key(docs)}-{max_docs or 'all'}",
                          embedder)
    with _bar("naive: embedding", len(chunks), show) as update:
        build = index.sync(chunks, progress=update)
    results = _run(nv.naive_runner(index), cases, "naive", show)
    return {
        **_block(results),
        "config": {**nv.describe(), "docs": len(used), "docs_total": len(all_docs), "capped": used is not all_docs,
                   "max_docs": max_docs, "index_dir": str(index.directory), "build": build,
                   "seconds": round(time.perf_counter() - t0, 1)},
        "note": note,
    }


def run_eval(
    testset: Path,
    out_dir: Path,
    *,
    docs: list[Path] | None,
    against: str | None,
    token: str | None,
    settings: Settings,
    compare: Path | None,
    naive: bool = True,
    limit: int | None = None,
    kb_dir: Path | None = None,
    naive_max_docs: int | None = None,
    embedder: Any = None,
    progress: bool | None = None,
    tags: Sequence[str] = (),
) -> dict[str, Any]:
    """Run one test set; write ``out_dir/metrics.json`` and ``out_dir/report.html``; return the metrics.

    ``kb_dir``: a data dir that already holds the knowledge base (used as it is, not ingested).
    ``naive_max_docs``: cap the naive reference's corpus (gold docs + a fixed sample), said in the report.
    ``embedder``: the embedder object to share (default: the one the settings name).
    ``tags``: keep only the cases carrying at least one of these tags (before ``limit``).
    """
    t0 = time.perf_counter()
    started = dt.datetime.now(dt.UTC)
    show = sys.stderr.isatty() if progress is None else progress
    ts = load_testset(Path(testset))
    cases = [c for c in ts.cases if set(c.tags) & set(tags)] if tags else ts.cases
    cases = cases[:limit] if limit else cases
    if not cases:
        raise ValueError(f"{testset}: no cases" + (f" tagged {', '.join(tags)}" if tags else ""))
    doc_paths = [Path(d) for d in docs] if docs else default_docs(ts, settings)
    notes: list[str] = []
    if not docs and ts.kind == "own" and len(doc_paths) < 2:
        notes.append("../shared/seeds 不存在：知识库只有 knowledge/，与种子材料有关的题会答不出。")
    if compare is not None and not (Path(compare) / "metrics.json").is_file():
        raise FileNotFoundError(f"--compare {compare}: no metrics.json there")

    need_embedder = against is None or naive
    if embedder is None and need_embedder:
        from app.service.factory import build_embedder

        embedder = build_embedder(settings)
    config: dict[str, Any] = {
        "testset": str(ts.path), "set": ts.name, "kind": ts.kind, "cases": len(cases),
        "cases_in_set": len(ts.cases), "limit": limit, "tags": list(tags), "docs": [str(p) for p in doc_paths],
        "mode": f"http {against}" if against else "in-process",
        "embed_model": getattr(embedder, "model_id", None),
        "llm": settings.llm_model or ("configured" if settings.llm_enabled else "off (extractive)"),
        "git_commit": git_commit(), "timestamp": started.isoformat(timespec="seconds"),
    }

    if against:
        from eval.harness import over_http

        runner = over_http(against, token=token)
        config["knowledge_base"] = {"server": against, **_server_health(against, token)}
        config["embed_model"] = config["knowledge_base"].get("embed_model") or config["embed_model"]
    else:
        missing = [str(p) for p in doc_paths if not p.exists()]
        if missing and not kb_dir:
            raise FileNotFoundError(f"docs not found: {', '.join(missing)}")
        from app.service.factory import build_assistant

        auto_ext = settings.data_dir / "ext" / ts.name
        if kb_dir is None and not docs and ts.kind == "external" and _prebuilt(auto_ext):
            kb_dir = auto_ext
        if kb_dir is not None:
            if not _prebuilt(kb_dir):
                raise FileNotFoundError(f"knowledge base {kb_dir} holds no manifest.sqlite3")
            kb = _kb_settings(settings, Path(kb_dir))
            config["knowledge_base"] = {"dir": str(kb_dir), "reused": True}
            notes.append(f"本项目使用已建好的知识库 {kb_dir}（未重新导入；导入设置以建库时为准）。")
        else:
            kb = _kb_settings(settings, settings.data_dir / "eval-kb" / f"{ts.name}-{_docs_key(doc_paths)}")
            ingest = _ingest(kb, doc_paths, embedder, show)
            config["knowledge_base"] = {"dir": str(kb.data_dir), "reused": False, "ingest": ingest}
            if ingest["failed_count"]:
                notes.append(f"导入失败 {ingest['failed_count']} 个文件（见 metrics.json 的 config.knowledge_base）。")
        assistant = build_assistant(kb, embedder)
        assistant.warm_up()
        assistant.chat("社区工作者第一次上门走访要注意什么？")  # one-time costs stay out of the latencies
        from eval.harness import in_process

        runner = in_process(assistant)

    t_project = time.perf_counter()
    results = _run(runner, cases, "project", show)
    config["project_seconds"] = round(time.perf_counter() - t_project, 1)

    data: dict[str, Any] = {"config": config, **_block(results), "naive": None, "notes": notes}
    if naive:
        data["naive"] = _naive(ts, cases, doc_paths, settings, embedder, show, naive_max_docs)
        if data["naive"]["note"]:
            notes.append(data["naive"]["note"])
    if compare is not None:
        old = json.loads((Path(compare) / "metrics.json").read_text(encoding="utf-8"))
        data["compare"] = compare_runs(data, old, Path(compare))
        if old.get("config", {}).get("testset") != config["testset"] or old.get("config", {}).get("cases") != len(cases):
            notes.append("对比的上次运行用的测试集或题数不同，指标差值只供参考。")
    config["duration_s"] = round(time.perf_counter() - t0, 1)

    from eval.report import write_report

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    write_report(data, out_dir / "report.html")
    return data


def default_out_dir(settings: Settings, name: str) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return settings.data_dir / "eval" / "runs" / f"{stamp}-{name}"
