"""``shegong serve --workers N``: uvicorn's worker processes on one port, each a full node over the
shared Chroma server and Redis; refused, saying why, without them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from tests.scale.cluster import QUESTIONS, REDIS_URL, ChromaServer, redis_or_skip, write_kb
from tests.support import ROOT, free_port, shegong_server


def test_workers_without_shared_stores_are_refused(tmp_path: Path) -> None:
    env = {**os.environ, "SHEGONG_DATA_DIR": str(tmp_path), "SHEGONG_AUTH": "off"}
    r = subprocess.run([sys.executable, "-m", "app.cli", "serve", "--workers", "2", "--port", str(free_port())],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "SHEGONG_CHROMA_URL" in r.stderr and "SHEGONG_REDIS_URL" in r.stderr, r.stderr


@pytest.mark.integration
def test_two_workers_serve_one_port(tmp_path: Path) -> None:
    redis_or_skip()
    kb = write_kb(tmp_path / "kb")
    chroma = ChromaServer(tmp_path / "chroma")
    chroma.start()
    try:
        env = {"SHEGONG_AUTH": "off", "SHEGONG_KNOWLEDGE_DIR": str(kb), "SHEGONG_DATA_DIR": str(tmp_path / "data"),
               "SHEGONG_CHROMA_URL": chroma.url, "SHEGONG_REDIS_URL": REDIS_URL}
        with shegong_server(env, "--ingest-default", "--workers", "2", timeout_s=240) as url:
            port = int(url.rsplit(":", 1)[1])
            listening = {c.pid for c in psutil.net_connections("tcp") if c.laddr and c.laddr.port == port
                         and c.status == psutil.CONN_LISTEN}
            assert len(listening) == 1
            holder = psutil.Process(listening.pop())  # the supervisor or one of its workers

            def spawned(p: psutil.Process) -> list[psutil.Process]:
                return [c for c in p.children() if "spawn_main" in " ".join(c.cmdline())]

            workers = spawned(holder) or spawned(holder.parent())
            assert len(workers) == 2, [c.cmdline() for c in holder.children()]
            for q in QUESTIONS[:3]:
                body = httpx.post(url + "/api/chat", json={"question": q}, timeout=60).json()
                assert not body["refused"], body
    finally:
        chroma.stop()
