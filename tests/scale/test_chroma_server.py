"""The vector store on Chroma's own server (SHEGONG_CHROMA_URL): a real ``chroma run`` process and
real ``shegong serve`` processes on 127.0.0.1. The same questions get the same answers as over the
embedded store; with the server stopped, chat is a Chinese 503 and /api/health names what is down;
both recover by themselves when it is back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.scale.cluster import QUESTIONS, ChromaServer, write_kb
from tests.support import shegong_server


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_kb(tmp_path_factory.mktemp("kb"))


@pytest.fixture(scope="module")
def chroma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    server = ChromaServer(tmp_path_factory.mktemp("chroma"))
    server.start()
    yield server
    server.stop()


def _ask(url: str, question: str) -> httpx.Response:
    return httpx.post(url + "/api/chat", json={"question": question}, timeout=60)


def _answers(url: str) -> list[tuple[str, bool, list[str]]]:
    out = []
    for q in QUESTIONS:
        body = _ask(url, q).json()
        out.append((body["answer"], body["refused"], [c["chunk_id"] for c in body["citations"]]))
    return out


@pytest.mark.integration
def test_the_server_store_gives_the_answers_of_the_embedded_one_and_recovers_when_it_comes_back(
        kb: Path, chroma: ChromaServer, tmp_path: Path) -> None:
    base = {"SHEGONG_AUTH": "off", "SHEGONG_KNOWLEDGE_DIR": str(kb)}
    with shegong_server({**base, "SHEGONG_DATA_DIR": str(tmp_path / "embedded")}, "--ingest-default") as url:
        embedded = _answers(url)
    on_server = {**base, "SHEGONG_DATA_DIR": str(tmp_path / "node"), "SHEGONG_CHROMA_URL": chroma.url}
    with shegong_server(on_server, "--ingest-default") as url:
        health = httpx.get(url + "/api/health", timeout=30).json()
        assert health["vector_store"] == "server" and health["vectors"] == health["chunks"] == 3, health
        assert not (tmp_path / "node" / "chroma").exists()  # the vectors are on the server, not in the data dir
        assert _answers(url) == embedded
        assert not embedded[0][1] and "开窗" in embedded[0][0] and embedded[3][1]

        chroma.stop()
        r = _ask(url, QUESTIONS[0])
        assert r.status_code == 503 and r.json()["code"] == "unavailable", r.text
        assert "Chroma 服务" in r.json()["detail"] and "稍后再试" in r.json()["detail"]
        h = httpx.get(url + "/api/health", timeout=30)
        assert h.status_code == 503 and h.json()["status"] == "degraded" and "chroma" in h.json()["down"]

        chroma.start()
        deadline = time.monotonic() + 30  # a bound on waiting, not a measured figure
        while httpx.get(url + "/api/health", timeout=30).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert httpx.get(url + "/api/health", timeout=30).json()["status"] == "ok"
        assert _answers(url) == embedded


@pytest.mark.integration
def test_a_node_starts_while_the_server_is_down_and_serves_once_it_is_up(
        kb: Path, chroma: ChromaServer, tmp_path: Path) -> None:
    env = {"SHEGONG_AUTH": "off", "SHEGONG_KNOWLEDGE_DIR": str(kb), "SHEGONG_DATA_DIR": str(tmp_path / "n2"),
           "SHEGONG_CHROMA_URL": chroma.url}
    with shegong_server(env, "--ingest-default"):  # the same documents: the server's vectors are reused
        pass
    chroma.stop()
    try:
        with shegong_server(env, ready=(503,)) as url:
            h = httpx.get(url + "/api/health", timeout=30).json()
            assert h["status"] == "degraded" and "连不上" in h["down"]["chroma"]
            assert _ask(url, QUESTIONS[1]).status_code == 503
            chroma.start()
            deadline = time.monotonic() + 30  # a bound on waiting, not a measured figure
            while httpx.get(url + "/api/health", timeout=30).status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.5)
            body = _ask(url, QUESTIONS[1]).json()
            assert not body["refused"] and "社区事务受理服务中心" in body["answer"], body
    finally:
        if chroma.proc is None:
            chroma.start()
