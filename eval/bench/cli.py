"""The entry point of ``make bench`` (``python -m eval.bench``): the options, then each part in
turn, its rows and notes handed to the table."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.core.settings import Settings
from eval.bench import __doc__ as BENCH_DOC
from eval.bench.config import CACHE_DIR, EXTERNAL, NAIVE_SPLIT, PARTS, ROOT, SHARED
from eval.bench.corpus import Corpus, build_corpus, build_reused, first_docs
from eval.bench.ingest_speed import bench_ingest
from eval.bench.latency import serve_latency
from eval.bench.reference import naive_child, naive_search
from eval.bench.table import ingest_rows, row, server_rows, write_figures


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m eval.bench", description=BENCH_DOC,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cail-docs", type=int, default=None, help="documents of cail2019_rc for the ingest rows (500)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON instead of the table")
    ap.add_argument("--json-out", type=Path, default=None, help="also write the figures as JSON to this file")
    ap.add_argument("--quick", action="store_true",
                    help="small corpora only: 1k chunks served, 5k reused, 100 cail docs ingested")
    ap.add_argument("--queries", type=int, default=200, help="questions per endpoint and corpus (200)")
    ap.add_argument("--sizes", default=None, help="corpus sizes in chunks, comma-separated (1000,10000)")
    ap.add_argument("--reuse-chunks", type=int, default=None, help="size of the reused-vector store (50000)")
    ap.add_argument("--naive-max-chunks", type=int, default=1000,
                    help="measure the naive reference on corpora up to this many chunks (1000); embedding its "
                         "index the first time takes ~3 min for the 1k corpus, ~30 min for 10k; then cached")
    ap.add_argument("--visit-households", type=int, default=None, help="households for the visit rows (100000)")
    ap.add_argument("--visit-visits", type=int, default=None, help="visit records for the visit rows (1000000)")
    ap.add_argument("--scale-sizes", default=None,
                    help="store sizes in chunks for the scale part, comma-separated (10000,100000; --quick 2000,5000)")
    ap.add_argument("--scale-steps", default=None,
                    help="client concurrency steps of the scale part's load (1,2,4,8,16; --quick 1,2,4)")
    ap.add_argument("--scale-step-s", type=float, default=None,
                    help="seconds of load per concurrency step of the scale part (20; --quick 8)")
    ap.add_argument("--skip", action="append", default=[], choices=PARTS, help="leave a part out (repeatable)")
    ap.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    ap.add_argument("--naive-child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.naive_child:
        naive_child(args.naive_child)
        return
    skip = set(args.skip)
    sizes = _ints(args.sizes or ("1000" if args.quick else "1000,10000"))
    reuse_target = args.reuse_chunks or (5000 if args.quick else 50000)
    cail_docs = args.cail_docs or (100 if args.quick else 500)
    load_before = os.getloadavg()
    t_start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    timings: dict[str, float] = {}

    def say(msg: str) -> None:
        print(f"[{time.perf_counter() - t_start:6.0f} s] {msg}", file=sys.stderr, flush=True)

    if "ingest" not in skip:
        t = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="shegong-bench-") as tmpdir:
            tmp = Path(tmpdir)
            if (SHARED / "seeds").is_dir():
                say("ingest: seeds")
                rows += ingest_rows(bench_ingest("seeds", [SHARED / "seeds"], tmp))
            cail = EXTERNAL / "cail2019_rc.docs.jsonl"
            if cail.is_file():
                say(f"ingest: cail2019_rc[:{cail_docs}]")
                sub = first_docs(cail, cail_docs, tmp / f"cail2019_rc.first{cail_docs}.jsonl")
                rows += ingest_rows(bench_ingest(f"cail2019_rc[:{cail_docs}]", [sub], tmp))
        timings["ingest"] = time.perf_counter() - t

    corpora: list[Corpus] = []
    want_corpora = not ({"serve", "reuse", "naive", "visits", "scale"} <= skip)
    if want_corpora and not EXTERNAL.is_dir():
        notes.append(f"{EXTERNAL} is absent: no server, reuse or naive figures")
    elif want_corpora:
        for size in sizes:
            say(f"corpus ~{size} chunks: building in {args.cache_dir}")
            t = time.perf_counter()
            c = build_corpus(size, args.queries, args.cache_dir)
            corpora.append(c)
            timings[f"build {c.name}"] = time.perf_counter() - t
            b = c.build
            notes.append(
                f"{c.name}: {c.docs} docs ({c.label}), {c.chunks} chunks; built in {b['seconds']} s "
                f"(added {b['added']}, unchanged {b['unchanged']}, vectors embedded fresh {b['embedded_fresh']}, "
                f"copied from earlier caches {b['vectors_copied_from_caches']}); queries: {len(c.questions)} "
                f"eval questions of {', '.join(c.sets)}")
            naive: dict[str, Any] | None = None
            if "naive" not in skip:
                if size <= args.naive_max_chunks:
                    say(f"{c.name}: naive reference")
                    t = time.perf_counter()
                    naive = naive_search(c, c.questions)
                    timings[f"naive {c.name}"] = time.perf_counter() - t
                    ix = naive["index"]
                    notes.append(f"naive {c.name}: {ix['chunks']} chunks of {NAIVE_SPLIT[0]}/{NAIVE_SPLIT[1]}; index "
                                 + ("reused from the bench cache" if ix["reused"] else f"embedded in {ix['embed_s']} s"))
                else:
                    naive = {"note": f"not measured (> --naive-max-chunks {args.naive_max_chunks})"}
            if "serve" not in skip:
                say(f"{c.name}: server latency, {len(c.questions)} queries")
                t = time.perf_counter()
                res = serve_latency(c.data_dir, c.questions, chat="chat" not in skip)
                timings[f"serve {c.name}"] = time.perf_counter() - t
                rows += server_rows(f"~{size // 1000}k", f"{c.name}: {c.label} docs", res, naive)
                notes.append(f"server on {c.name}: ready in {res['startup_s']} s, RSS {res['rss_ready_mb']} MB when "
                             f"ready, {res['rss_end_mb']} MB after the queries")
            elif naive and "p50_ms" in naive:
                rows.append(row("naive dense search only", c.name, naive["chunks"], p50=naive["p50_ms"],
                                p95=naive["p95_ms"], throughput=naive["qps"], unit="q/s",
                                peak_rss_mb=naive["peak_rss_mb"], took_s=naive["took_s"]))

    if "reuse" not in skip and corpora:
        source = max(corpora, key=lambda c: c.chunks)
        copies = max(1, round(reuse_target / max(source.chunks, 1)))
        with tempfile.TemporaryDirectory(prefix="shegong-reuse-", dir=args.cache_dir) as tmpdir:
            dest = Path(tmpdir) / "data"
            say(f"reuse: {copies} copies of {source.name} ({source.chunks} chunks) under new ids")
            t = time.perf_counter()
            built = build_reused(source.data_dir, dest, copies)
            timings["reuse build"] = time.perf_counter() - t
            rows.append(row("build store of reused vectors under new ids (in process)", f"{source.name} ×{copies}",
                            built["chunks"], docs=built["documents"], throughput=round(built["chunks"] / built["seconds"])
                            if built["seconds"] else None, unit="chunks/s", took_s=built["seconds"], extra=built))
            notes.append(
                f"reused store: {copies} × {source.name} ({built['source_chunks']} chunks) = {built['chunks']} chunks "
                f"in the manifest, {built['vectors']} in Chroma; built in {built['seconds']} s (manifest "
                f"{built['manifest_s']} s, Chroma {built['chroma_s']} s, BM25 the rest), embedder loaded: "
                f"{built['embedder_loaded']}")
            if "serve" not in skip:
                say(f"reuse: server latency, {len(source.questions)} queries")
                t = time.perf_counter()
                res = serve_latency(dest, source.questions, chat="chat" not in skip)
                timings["serve reuse"] = time.perf_counter() - t
                rows += server_rows(f"~{round(built['chunks'] / 1000)}k reused vectors", f"{source.name} ×{copies} "
                                    "(new ids)", {**res, "build": built}, {"note": "n/a (would need re-embedding)"})
                notes.append(f"server on the reused store: ready in {res['startup_s']} s, RSS "
                             f"{res['rss_ready_mb']} MB when ready, {res['rss_end_mb']} MB after the queries")

    if "scale" not in skip and corpora:
        from eval.bench import scale

        source = max(corpora, key=lambda c: c.chunks)
        opts = scale.ScaleOptions(
            sizes=_ints(args.scale_sizes) or (scale.QUICK_SIZES if args.quick else scale.SIZES),
            steps=_ints(args.scale_steps) or (scale.QUICK_STEPS if args.quick else scale.STEPS),
            step_s=args.scale_step_s or (8.0 if args.quick else 20.0), probes=3 if args.quick else 5)
        t = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="shegong-scale-", dir=args.cache_dir) as tmpdir:
            srows, snotes = scale.bench_scale(source, opts, Path(tmpdir), say=say)
        rows += srows
        notes += snotes
        timings["scale"] = time.perf_counter() - t

    if "visits" not in skip:
        from eval.bench.visits import bench_visits

        t = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="shegong-visits-") as tmpdir:
            vset = Settings(data_dir=Path(tmpdir), knowledge_dir=ROOT / "knowledge")
            biggest = max(corpora, key=lambda c: c.chunks).data_dir if corpora else None
            vrows, vnotes = bench_visits(
                vset, biggest, households_n=args.visit_households or (10_000 if args.quick else 100_000),
                visits_n=args.visit_visits or (100_000 if args.quick else 1_000_000), say=say)
        rows += vrows
        notes += vnotes
        timings["visits"] = time.perf_counter() - t

    write_figures(rows, notes, timings, took_s=time.perf_counter() - t_start, load_before=load_before,
                  load_after=os.getloadavg(), queries=args.queries, json_out=args.json_out, as_json=args.json)


def _ints(text: str | None) -> list[int]:
    """``"1000,10000"`` -> ``[1000, 10000]`` (empty for None)."""
    return [int(x) for x in (text or "").split(",") if x.strip()]
