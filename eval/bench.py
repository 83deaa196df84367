"""``make bench``: speed and memory figures, printed as one table.

Each measurement runs the real CLI in a child process on an empty data dir, so start-up is
included and peak RSS is the child's own (from ``wait4``). Run it with nothing else busy: this
machine has two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SHEGONG_SHARED_DIR", ROOT.parent / "shared"))


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float
    report: dict[str, object]


def run_cli(args: list[str], data_dir: Path) -> Run:
    """Run ``shegong ARGS`` in a child; its own peak RSS comes from ``wait4``."""
    env = {**os.environ, "SHEGONG_DATA_DIR": str(data_dir)}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", *args], cwd=ROOT, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"shegong {' '.join(args)} failed: {stderr.decode()[-2000:]}")
    report = json.loads(stdout) if stdout.strip().startswith(b"{") else {}
    return Run(seconds, usage.ru_maxrss / 1024, report)


def first_docs(src: Path, n: int, dest: Path) -> Path:
    with src.open(encoding="utf-8") as fh, dest.open("w", encoding="utf-8") as out:
        for i, line in enumerate(fh):
            if i >= n:
                break
            out.write(line)
    return dest


def bench_ingest(name: str, paths: list[Path], tmp: Path) -> dict[str, object]:
    data = tmp / f"data-{name}"
    cold = run_cli(["ingest", *map(str, paths), "--json"], data)
    warm = run_cli(["ingest", *map(str, paths), "--json"], data)
    files: list[dict[str, int]] = cold.report.get("files", [])  # type: ignore[assignment]
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
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cail-docs", type=int, default=500)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="shegong-bench-") as tmpdir:
        tmp = Path(tmpdir)
        if (SHARED / "seeds").is_dir():
            rows.append(bench_ingest("seeds", [SHARED / "seeds"], tmp))
        cail = SHARED / "external" / "cail2019_rc.docs.jsonl"
        if cail.is_file():
            sub = first_docs(cail, args.cail_docs, tmp / f"cail2019_rc.first{args.cail_docs}.jsonl")
            rows.append(bench_ingest(f"cail2019_rc[:{args.cail_docs}]", [sub], tmp))
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    cols = ["corpus", "docs", "chunks", "ingest_s", "chunks_per_s", "reingest_unchanged_s", "peak_rss_mb"]
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in cols]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    for r in rows:
        print("  ".join(str(r[c]).ljust(w) for c, w in zip(cols, widths, strict=True)))
    print(f"(bench took {time.perf_counter() - t0:.0f} s; ingest includes process start-up; peak RSS of the CLI)")


if __name__ == "__main__":
    main()
