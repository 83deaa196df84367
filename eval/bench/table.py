"""Formatting and writing the figures: the rows, the printed table with its notes, the JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def ingest_rows(r: dict[str, Any]) -> list[dict[str, Any]]:
    """The ingest figures as two table rows (cold, unchanged)."""
    return [
        row("ingest, cold (CLI, embeds every chunk)", r["corpus"], r["chunks"], docs=r["docs"],
            throughput=r["chunks_per_s"], unit="chunks/s", peak_rss_mb=r["cold_rss_mb"], took_s=r["ingest_s"],
            extra=r),
        row("re-ingest, nothing changed (CLI)", r["corpus"], r["chunks"], docs=r["docs"],
            throughput=round(r["docs"] / r["reingest_unchanged_s"], 1) if r["docs"] else None, unit="docs/s",
            peak_rss_mb=r["warm_rss_mb"], took_s=r["reingest_unchanged_s"]),
    ]


def row(measurement: str, corpus: str, chunks: int | None, *, docs: int | None = None, p50: float | None = None,
        p95: float | None = None, throughput: float | None = None, unit: str = "", peak_rss_mb: float | None = None,
        naive: dict[str, Any] | None = None, took_s: float | None = None,
        extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "measurement": measurement, "corpus": corpus, "docs": docs, "chunks": chunks, "p50_ms": p50, "p95_ms": p95,
        "throughput": throughput, "unit": unit,
        "peak_rss_mb": round(peak_rss_mb) if peak_rss_mb is not None else None,
        "naive": naive, "took_s": round(took_s, 1) if took_s is not None else None, "detail": extra or {},
    }



def server_rows(what: str, corpus: str, res: dict[str, Any], naive: dict[str, Any] | None) -> list[dict[str, Any]]:
    s = res["search"]
    out = [row(f"{what}: /api/search k={s['k']} (server)", corpus, res["chunks"], docs=res["documents"],
               p50=s["p50_ms"], p95=s["p95_ms"], throughput=s["qps"], unit="q/s", peak_rss_mb=res["peak_rss_mb"],
               naive=naive, took_s=res["took_s"], extra=res)]
    if "chat" in res:
        c = res["chat"]
        out.append(row(f"{what}: /api/chat (server, {c.get('mode')})", corpus, res["chunks"], docs=res["documents"],
                       p50=c["p50_ms"], p95=c["p95_ms"], throughput=c["qps"], unit="q/s",
                       peak_rss_mb=res["peak_rss_mb"]))
    return out



# -- the table ----------------------------------------------------------------------------------
def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.1f}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


def naive_cell(n: dict[str, Any] | None) -> str:
    if not n:
        return "—"
    if "note" in n:
        return str(n["note"])
    if "what" in n:  # a reference other than the naive RAG pipeline
        return f"{_fmt(n['p50_ms'])} / {_fmt(n['p95_ms'])} ms · {n['what']}"
    return (f"{_fmt(n['p50_ms'])} / {_fmt(n['p95_ms'])} ms · {_fmt(n['qps'])} q/s · {n['chunks']} chunks · "
            f"{n['peak_rss_mb']} MB")


def print_table(rows: list[dict[str, Any]]) -> None:
    cols = [("measurement", "measurement"), ("corpus", "corpus"), ("chunks", "chunks"), ("p50_ms", "p50 ms"),
            ("p95_ms", "p95 ms"), ("throughput", "throughput"), ("peak_rss_mb", "peak RSS MB"),
            ("naive", "naive p50 / p95 · q/s · chunks · peak RSS"), ("took_s", "took s")]
    if not rows:
        print("(no rows: every part was skipped or ../shared is absent)")
        return
    cells = []
    for r in rows:
        line = []
        for key, _ in cols:
            if key == "throughput":
                line.append(f"{_fmt(r['throughput'])} {r['unit']}" if r["throughput"] is not None else "—")
            elif key == "naive":
                line.append(naive_cell(r.get("naive")))
            else:
                line.append(_fmt(r.get(key)))
        cells.append(line)
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (_, h) in enumerate(cols)]
    print("  ".join(h.ljust(w) for (_, h), w in zip(cols, widths, strict=True)))
    for c in cells:
        print("  ".join(x.ljust(w) for x, w in zip(c, widths, strict=True)))



def write_figures(rows: list[dict[str, Any]], notes: list[str], timings: dict[str, float], *, took_s: float,
                  load_before: tuple[float, float, float], load_after: tuple[float, float, float], queries: int,
                  json_out: Path | None, as_json: bool) -> None:
    """The figures as JSON to ``json_out`` (if given), then either that JSON or the table and its
    notes on stdout."""
    figures = json.dumps({"rows": rows, "notes": notes, "timings_s": {k: round(v, 1) for k, v in timings.items()},
                          "took_s": round(took_s, 1), "load_before": load_before, "load_after": load_after,
                          "cpus": os.cpu_count(), "queries": queries}, ensure_ascii=False, indent=1)
    if json_out:
        json_out.write_text(figures + "\n", encoding="utf-8")
    if as_json:
        print(figures)
        return
    print_table(rows)
    print()
    for n in notes:
        print(f"- {n}")
    print("- latencies: client wall time per request, one request at a time after 3 warm-up requests; "
          "throughput = requests / wall time; search and chat rows share one server, whose peak RSS (wait4) "
          "includes start-up; ingest includes process start-up, peak RSS of the CLI")
    print("- parts: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
    print(f"(bench took {took_s:.0f} s; load average 1/5/15 min before {load_before[0]:.2f}/{load_before[1]:.2f}/"
          f"{load_before[2]:.2f}, after {load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f}; "
          f"{os.cpu_count()} CPUs)")
