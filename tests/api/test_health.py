"""The service on a real port: uvicorn on 127.0.0.1, requests over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT, free_port, shegong_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("srv") / "data"
    kb = tmp_path_factory.mktemp("kb")
    (kb / "a.txt").write_text("走访独居老人要查看燃气安全。", encoding="utf-8")
    env = {"SHEGONG_DATA_DIR": str(data), "SHEGONG_AUTH": "off", "SHEGONG_KNOWLEDGE_DIR": str(kb)}
    with shegong_server(env, "--ingest-default") as url:
        yield url


@pytest.mark.integration
def test_health_over_http(server: str) -> None:
    r = httpx.get(server + "/api/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["documents"] == 1 and body["chunks"] == body["vectors"] == 1
    assert body["embedder"]["dim"] == 384


@pytest.mark.integration
@pytest.mark.parametrize(("auth", "says"), [("off", "127.0.0.1"), ("on", "账号")])
def test_refuses_public_bind(tmp_path: Path, auth: str, says: str) -> None:
    """Without auth only loopback is allowed; with auth too, until accounts exist."""
    env = {**os.environ, "SHEGONG_DATA_DIR": str(tmp_path), "SHEGONG_AUTH": auth}
    res = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        cwd=ROOT, env=env, capture_output=True, timeout=120,
    )
    assert res.returncode != 0
    assert says in res.stderr.decode() and "config_error" in res.stderr.decode()
