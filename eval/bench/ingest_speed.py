"""The ingest rows: the ``shegong ingest`` CLI on an empty data dir, then again with nothing changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eval.bench.children import run_cli


def bench_ingest(name: str, paths: list[Path], tmp: Path) -> dict[str, Any]:
    data = tmp / f"data-{name}"
    cold = run_cli(["ingest", *map(str, paths), "--json"], data)
    warm = run_cli(["ingest", *map(str, paths), "--json"], data)
    files: list[dict[str, Any]] = cold.report.get("files", [])
    chunks = sum(int(f.get("chunks", 0)) for f in files)
    return {
        "corpus": name,
        "docs": cold.report.get("added"),
        "chunks": chunks,
        "ingest_s": round(cold.seconds, 1),
        "chunks_per_s": round(chunks / cold.seconds, 1) if cold.seconds else None,
        "reingest_unchanged_s": round(warm.seconds, 2),
        "reingest_unchanged_count": warm.report.get("unchanged"),
        "peak_rss_mb": round(max(cold.peak_rss_mb, warm.peak_rss_mb)),
        "cold_rss_mb": round(cold.peak_rss_mb),
        "warm_rss_mb": round(warm.peak_rss_mb),
    }

