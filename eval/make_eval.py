"""``make eval``: the starter set and the four external sets, each into
``DATA_DIR/eval/runs/<UTC stamp>-<set>/`` (metrics.json + report.html), and an index of every run
in ``DATA_DIR/eval/index.html``.

Knowledge bases:

* starter: knowledge/ + ../shared/seeds, ingested into ``DATA_DIR/eval-kb/starter-<hash>`` (only new
  or changed files are embedded on later runs);
* external sets: ``--kb-dir NAME=DIR`` when given, else ``DATA_DIR/ext/NAME`` when it holds an
  ingested knowledge base (as ``eval/tune_fusion.py`` leaves it), used as it is; otherwise the
  set's ``NAME.docs.jsonl`` is ingested into ``DATA_DIR/eval-kb/`` (slow: about an hour per set on
  two cores).

The naive reference embeds its own 1000-character chunks of every document once (roughly 5–20
minutes per external set on two busy cores) and keeps them in ``DATA_DIR/eval-naive/``; later
runs only query. ``--naive-max-docs N`` caps its corpus (gold documents + a fixed random sample),
which the report then states.

Each run is compared with the previous run of the same set when that one asked the same
questions (``--no-compare`` to skip). ``../shared`` absent: the external sets are skipped.

Usage: ``python -m eval.make_eval [--limit N] [--sets starter ncp_policy] [--kb-dir NAME=DIR]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

from app.core.settings import disable_telemetry, load_settings
from eval import external
from eval.report import fmt, write_index
from eval.runner import OWN_SETS, run_eval

ALL_SETS = ("starter", *external.SETS)


def _kb_dirs(pairs: list[str]) -> dict[str, Path]:
    out = {}
    for pair in pairs:
        name, sep, directory = pair.partition("=")
        if not sep or not name or not directory:
            raise SystemExit(f"--kb-dir wants NAME=DIR, got {pair!r}")
        out[name] = Path(directory)
    return out


def previous_run(runs_dir: Path, name: str, testset: Path, cases: int, before: str) -> Path | None:
    """The newest earlier run of the same set that asked the same number of questions."""
    for metrics_file in sorted(runs_dir.glob(f"*-{name}/metrics.json"), reverse=True):
        run = metrics_file.parent
        if not run.name.endswith(f"-{name}") or run.name[: -len(name) - 1] >= before:
            continue
        try:
            cfg = json.loads(metrics_file.read_text(encoding="utf-8")).get("config", {})
        except (OSError, ValueError):
            continue
        if cfg.get("testset") == str(testset) and cfg.get("cases") == cases:
            return run
    return None


def _count(path: Path) -> int:
    with path.open(encoding="utf-8") as fh:
        return sum(1 for line in fh if line.strip())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=None, help="data dir (default SHEGONG_DATA_DIR or ./data)")
    ap.add_argument("--sets", nargs="+", choices=ALL_SETS, default=list(ALL_SETS))
    ap.add_argument("--limit", type=int, default=None, help="first N questions of each external set (default: all)")
    ap.add_argument("--kb-dir", action="append", default=[], metavar="NAME=DIR",
                    help="an already ingested data dir for an external set (default DATA_DIR/ext/NAME if present)")
    ap.add_argument("--no-naive", action="store_true", help="skip the naive reference pipeline")
    ap.add_argument("--naive-max-docs", type=int, default=None,
                    help="cap the naive reference's corpus for external sets (gold docs + a fixed sample)")
    ap.add_argument("--no-compare", action="store_true", help="do not compare with the previous run of each set")
    args = ap.parse_args(argv)

    disable_telemetry()
    settings = load_settings(**({"data_dir": args.data_dir} if args.data_dir else {}))
    kb_dirs = _kb_dirs(args.kb_dir)
    eval_dir = settings.data_dir / "eval"
    runs_dir = eval_dir / "runs"
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    from app.service.factory import build_embedder

    embedder = build_embedder(settings)
    done: list[Path] = []
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for name in args.sets:
        if name == "starter":
            testset, limit, kb_dir, max_docs = OWN_SETS / "starter.jsonl", None, None, None
        else:
            testset = external.external_dir() / f"{name}.eval.jsonl"
            if not testset.is_file():
                print(f"{name}: {testset} is absent (../shared missing?), skipped", flush=True)
                continue
            limit, max_docs = args.limit, args.naive_max_docs
            kb_dir = kb_dirs.get(name)
            if kb_dir is None and (settings.data_dir / "ext" / name / "manifest.sqlite3").is_file():
                kb_dir = settings.data_dir / "ext" / name
        cases = min(_count(testset), limit) if limit else _count(testset)
        compare = None if args.no_compare else previous_run(runs_dir, name, testset, cases, stamp)
        out = runs_dir / f"{stamp}-{name}"
        print(f"{name}: {cases} questions -> {out}" + (f" (compared with {compare.name})" if compare else ""),
              flush=True)
        t1 = time.perf_counter()
        data = run_eval(testset, out, docs=None, against=None, token=None, settings=settings, compare=compare,
                        naive=not args.no_naive, limit=limit, kb_dir=kb_dir, naive_max_docs=max_docs,
                        embedder=embedder)
        done.append(out)
        m, nm = data["metrics"], (data.get("naive") or {}).get("metrics") or {}
        row = {"set": name, "cases": m["cases"], "recall@5": m["recall@5"], "answer_accuracy": m["answer_accuracy"],
               "naive_recall@5": nm.get("recall@5"), "naive_answer_accuracy": nm.get("answer_accuracy"),
               "seconds": round(time.perf_counter() - t1, 1)}
        rows.append(row)
        print(f"  project recall@5 {fmt('recall@5', m['recall@5'])}, answers {fmt('answer_accuracy', m['answer_accuracy'])}"
              + (f" | naive recall@5 {fmt('recall@5', nm.get('recall@5'))}, answers "
                 f"{fmt('answer_accuracy', nm.get('answer_accuracy'))}" if nm else "")
              + f" | {row['seconds']} s", flush=True)
        for note in data.get("notes", []):
            print(f"  note: {note}", flush=True)
    index = write_index(eval_dir, highlight=done)
    print(f"index: {index} ({time.perf_counter() - t0:.0f} s)")
    return 0 if done else 1


if __name__ == "__main__":
    sys.exit(main())
