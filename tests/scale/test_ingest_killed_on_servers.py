"""An ingest on the server deployment (manifest in PostgreSQL, vectors on a Chroma server) killed
with SIGKILL at ten random moments: after a re-run, each ends with exactly the chunks of an
uninterrupted run, none lost and none twice, in Chroma and in the manifest. Real processes."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.core.settings import Settings
from app.service.factory import build_ingestor
from tests.scale.cluster import ChromaServer
from tests.support import ROOT, fresh_postgres_db

KILLS = 10
SEED = 20261202


def _ingest(env: dict[str, str], src: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "app.cli", "ingest", str(src), "--json"], cwd=ROOT,
                            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _state(env: dict[str, str], embedder) -> tuple[list[str], list[str], int]:  # type: ignore[no-untyped-def]
    ing = build_ingestor(Settings(data_dir=Path(env["SHEGONG_DATA_DIR"]), database_url=env["SHEGONG_DATABASE_URL"],
                                  chroma_url=env["SHEGONG_CHROMA_URL"]), embedder)
    try:
        manifest_ids = [c.chunk_id for c in ing.manifest.chunks()]
        return sorted(ing.store.ids()), manifest_ids, ing.store.count()
    finally:
        ing.manifest.close()


@pytest.mark.slow
@pytest.mark.integration
def test_kill_9_at_ten_random_points_then_rerun_on_the_servers(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "kb"
    src.mkdir()
    rows = [{"doc_id": f"case:{i}", "title": f"案例{i}", "text": f"第{i}个案例。社区工作者第{i}次走访独居老人，发现燃气隐患{i}处，及时联系物业处理。"}
            for i in range(160)]
    (src / "cases.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")

    def run(i: int, kill_after: float | None) -> tuple[list[str], list[str], int, bool, float]:
        chroma = ChromaServer(tmp_path / f"chroma-{i}")
        chroma.start()
        try:
            with fresh_postgres_db() as db:
                env = {"SHEGONG_DATA_DIR": str(tmp_path / f"node-{i}"), "SHEGONG_DATABASE_URL": db,
                       "SHEGONG_CHROMA_URL": chroma.url}
                t0 = time.monotonic()
                first = _ingest(env, src)
                interrupted = False
                if kill_after is not None:
                    time.sleep(kill_after)
                    if first.poll() is None:
                        first.send_signal(signal.SIGKILL)
                        interrupted = True
                first.wait(timeout=600)
                took = time.monotonic() - t0
                if interrupted:
                    second = _ingest(env, src)
                    _, err = second.communicate(timeout=600)
                    assert second.returncode == 0, err.decode()
                store_ids, manifest_ids, count = _state(env, embedder)
                return store_ids, manifest_ids, count, interrupted, took
        finally:
            chroma.stop()

    ref_store, ref_manifest, ref_count, _, full = run(0, None)
    assert len(ref_store) == len(set(ref_manifest)) == ref_count == 160
    rng = random.Random(SEED)
    interrupted = 0
    for i in range(1, KILLS + 1):
        store_ids, manifest_ids, count, was_killed, _ = run(i, rng.uniform(0.2, 0.95) * full)
        interrupted += was_killed
        assert store_ids == ref_store, f"kill {i}: chunks lost or extra in Chroma"
        assert sorted(manifest_ids) == ref_store and len(manifest_ids) == len(set(manifest_ids)), f"kill {i}: manifest"
        assert count == len(ref_store), f"kill {i}: a chunk twice in Chroma"
    assert interrupted >= KILLS // 2, f"only {interrupted} of {KILLS} kills interrupted an ingest"
