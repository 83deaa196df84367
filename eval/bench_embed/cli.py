"""The entry point of ``make bench-embed`` (``python -m eval.bench_embed``): the options, the
reference first, then each backend in its own child, then the table and the JSON."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eval.bench_embed.backends import BACKENDS, DEFAULT_BACKENDS, REFERENCE, STUDY_PYTHON, log
from eval.bench_embed.children import Runner, python_for
from eval.bench_embed.corpus import cail_rows, chunk_texts, ncp_corpus
from eval.bench_embed.figures import summarise
from eval.bench_embed.ingest_criterion import ingest_criterion
from eval.bench_embed.table import _cpu_name, print_table
from eval.bench_embed.timing import worker_main


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eval.bench_embed", description="Embedding backend study (see the module docstring).")
    ap.add_argument("--quick", action="store_true", help="smoke test on small subsets")
    ap.add_argument("--backends", default=",".join(DEFAULT_BACKENDS),
                    help=f"comma-separated, from: {', '.join(BACKENDS)}")
    ap.add_argument("--json", dest="json_out", type=Path, default=None, help="also write the figures here")
    ap.add_argument("--ncp-docs", type=int, default=None, help="ncp_policy documents (default all; quick 300)")
    ap.add_argument("--latency-queries", type=int, default=None, help="default 200; quick 20")
    ap.add_argument("--ingest-docs", type=int, default=None, help="cail2019_rc docs to ingest (default 250; quick 25)")
    ap.add_argument("--no-ingest", action="store_true", help="skip the ingest criterion")
    ap.add_argument("--study-python", type=Path, default=STUDY_PYTHON, help="interpreter for the optional backends")
    ap.add_argument("--artifacts", type=Path, default=None, help="keep ONNX/OpenVINO exports here (default: temp)")
    ap.add_argument("--timeout", type=float, default=None, help="per child process, seconds")
    ap.add_argument("--worker", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker is not None:
        return worker_main(args.worker)

    names = [n.strip() for n in args.backends.split(",") if n.strip()]
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        ap.error(f"unknown backend(s) {', '.join(unknown)}; choose from {', '.join(BACKENDS)}")
    ncp_docs = args.ncp_docs if args.ncp_docs is not None else (300 if args.quick else None)
    n_latency = args.latency_queries or (20 if args.quick else 200)
    ingest_docs = args.ingest_docs or (25 if args.quick else 250)
    timeout = args.timeout or (900.0 if args.quick else 2400.0)
    t_start = time.perf_counter()

    from app.core.settings import Settings, disable_telemetry
    from app.service.factory import e5_model_dir

    disable_telemetry()
    model_dir = e5_model_dir(Settings()).resolve()
    log(f"model {model_dir}; preparing ncp_policy chunks")
    corpus = ncp_corpus(ncp_docs)
    load_texts, _ = chunk_texts(cail_rows(300, 340 if args.quick else 400))
    data = {"passages": corpus.texts, "queries": corpus.questions, "load_texts": load_texts,
            "calib": load_texts[: 32 if args.quick else 128]}
    log(f"{corpus.n_docs} docs -> {len(corpus.texts)} chunks, {len(corpus.questions)} questions; "
        f"{len(load_texts)} cail chunks for the ingest load and calibration")

    rows: list[dict[str, Any]] = []
    crit: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="shegong-bench-embed-") as tmpdir:
        tmp = Path(tmpdir)
        data_path = tmp / "data.json"
        data_path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        artifacts = args.artifacts or tmp / "artifacts"
        runner = Runner(tmp, model_dir, artifacts, data_path, timeout)
        order = [REFERENCE, *[n for n in names if n != REFERENCE]] if REFERENCE in names else names
        ref: np.ndarray | None = None
        if REFERENCE not in names:
            log("reference vectors (st-torch fp32, passages only)")
            res = runner.run(BACKENDS[REFERENCE], Path(sys.executable), "measure", passages_only=True, n_latency=0)
            ref = np.load(res["vectors"])["passages"] if res.get("ok") else None
        results: dict[str, dict[str, Any]] = {}
        for i, name in enumerate(order, start=1):
            backend = BACKENDS[name]
            python = python_for(backend, args.study_python)
            t0 = time.perf_counter()
            if python is None:
                res = {"ok": False, "reason": f"needs {', '.join(backend.modules)}: not importable in the project venv "
                       f"nor in {args.study_python} (see eval/bench_embed_requirements.txt)"}
            else:
                log(f"[{i}/{len(order)}] {name} ({python})")
                res = runner.run(backend, python, "measure", n_latency=n_latency)
            if name == REFERENCE and res.get("ok"):
                ref = np.load(res["vectors"])["passages"]
            results[name] = res
            log(f"[{i}/{len(order)}] {name}: {'done' if res.get('ok') else 'FAILED: ' + str(res.get('reason'))} "
                f"in {time.perf_counter() - t0:.0f} s")
        rows = [summarise(n, results[n], corpus, ref) for n in names]
        if not args.no_ingest:
            crit = ingest_criterion(runner, ingest_docs, model_dir.parent)
    total = time.perf_counter() - t_start
    meta = {"quick": args.quick, "ncp_docs": corpus.n_docs, "chunks": len(corpus.texts),
            "questions": len(corpus.questions), "n_latency": n_latency, "ingest_docs": ingest_docs,
            "total_s": total, "cpu": _cpu_name(), "cores": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    print_table(rows, crit, meta)
    print(f"(study took {total:.0f} s; each backend in its own process; quick={args.quick})")
    if args.json_out:
        args.json_out.write_text(json.dumps({"meta": meta, "backends": rows, "ingest_criterion": crit},
                                            ensure_ascii=False, indent=1), encoding="utf-8")
    return 0
