"""/api/search, /api/chat and /api/chat/stream on a real server (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator

import httpx
import pytest

from app.core.settings import Settings
from tests.support import shegong_server


@pytest.fixture(scope="module")
def server(kb_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("srv") / "data"
    shutil.copytree(kb_settings.data_dir, data)
    with shegong_server({"SHEGONG_DATA_DIR": str(data), "SHEGONG_AUTH": "off"}) as url:
        yield url


@pytest.mark.integration
class TestSearchApi:
    def test_search(self, server: str) -> None:
        r = httpx.post(server + "/api/search", json={"query": "居民区社工额度怎么配置", "k": 5}, timeout=60)
        assert r.status_code == 200
        hits = r.json()["hits"]
        assert len(hits) == 5
        assert set(hits[0]) >= {"chunk_id", "doc_id", "title", "source", "issuer", "region", "published",
                                "effective_to", "heading", "text", "score"}
        assert "policies/pudong-shegong-15" in [h["doc_id"] for h in hits]

    def test_filters(self, server: str) -> None:
        # the demo documents are typed 其他 and flagged fictional: a made-up rule is never 政策
        body = {"query": "值班补贴", "k": 5, "filters": {"in_force_on": "2026-06-01", "doc_type": "其他"}}
        hits = httpx.post(server + "/api/search", json=body, timeout=60).json()["hits"]
        assert hits[0]["doc_id"] == "other/demo-duty-allowance-2026" and hits[0]["fictional"] is True
        assert all(h["doc_type"] == "其他" for h in hits)
        body["filters"]["doc_type"] = "政策"
        hits = httpx.post(server + "/api/search", json=body, timeout=60).json()["hits"]
        assert "other/demo-duty-allowance-2026" not in [h["doc_id"] for h in hits]

    def test_bad_requests_are_422_in_chinese(self, server: str) -> None:
        r = httpx.post(server + "/api/search", json={"query": "x", "k": 0}, timeout=60)
        assert r.status_code == 422 and r.json()["code"] == "invalid_request"
        r = httpx.post(server + "/api/search", json={"query": "走访", "filters": {"in_force_on": "2026-13-01"}})
        assert r.status_code == 422 and "YYYY-MM-DD" in r.json()["detail"]


@pytest.mark.integration
class TestChatApi:
    def test_answer(self, server: str) -> None:
        r = httpx.post(server + "/api/chat", json={"question": "宜川路街道考取中级社工证奖励多少？"}, timeout=60)
        body = r.json()
        assert r.status_code == 200 and set(body) >= {"answer", "refused", "mode", "citations", "nearest", "timings_ms"}
        assert not body["refused"] and body["mode"] == "extractive" and "2000元" in body["answer"]
        c = body["citations"][0]
        assert c["n"] == 1 and c["text"] and c["title"] and "chunk_id" in c
        assert set(body["timings_ms"]) == {"retrieve", "answer", "total"}

    def test_follow_up(self, server: str) -> None:
        history = [{"role": "user", "content": "居民问残疾人两项补贴怎么申请？"}, {"role": "assistant", "content": "……"}]
        body = httpx.post(server + "/api/chat", json={"question": "那要准备哪些材料？", "history": history},
                          timeout=60).json()
        assert not body["refused"] and "残疾人证" in body["answer"]

    def test_refusal(self, server: str) -> None:
        body = httpx.post(server + "/api/chat", json={"question": "明天上海会下雨吗？"}, timeout=60).json()
        assert body["refused"] is True and body["answer"].startswith("知识库中没有找到") and body["citations"] == []

    def test_question_of_20000_characters(self, server: str) -> None:
        r = httpx.post(server + "/api/chat", json={"question": "走访" * 10000}, timeout=60)
        assert r.status_code == 422
        assert "问题太长" in r.json()["detail"] and "2000" in r.json()["detail"]

    def test_stream(self, server: str) -> None:
        with httpx.stream("POST", server + "/api/chat/stream", json={"question": "浦东居民区社工额度怎么配？"},
                          timeout=60) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
        assert events[0]["type"] == "delta" and events[-1]["type"] == "done"
        assert events[-1]["answer"]["citations"]
