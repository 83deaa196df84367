"""Two API nodes over one PostgreSQL, one Chroma server and the machine's Redis, each a real process
on 127.0.0.1: the second node starts with an empty data dir and no ingest of its own, and answers as
the first does; an account and its token made through one work on the other; the chat limit counts
across both; a document uploaded and a visit record made through one are seen through the other, and
signing out through one ends the session on both."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from tests.scale.cluster import QUESTIONS, REDIS_URL, ChromaServer, add_user, redis_or_skip, write_kb
from tests.support import PASSWORD, fresh_postgres_db, shegong_server

JUWEI = "双节点居委（虚构示例）"


@pytest.mark.integration
def test_two_nodes_share_answers_accounts_and_limits(tmp_path: Path) -> None:
    redis_or_skip()
    user = f"wang-{uuid.uuid4().hex[:8]}"  # the limit's window outlives a run: a fresh key each time
    kb = write_kb(tmp_path / "kb")
    (kb / "regions.yaml").write_text(f"全国:\n  上海市:\n    普陀区:\n      宜川路街道:\n        {JUWEI}: {{}}\n",
                                     encoding="utf-8")
    chroma = ChromaServer(tmp_path / "chroma")
    chroma.start()
    try:
        with fresh_postgres_db() as db_url:
            shared = {"SHEGONG_AUTH": "on", "SHEGONG_KNOWLEDGE_DIR": str(kb), "SHEGONG_DATABASE_URL": db_url,
                      "SHEGONG_CHROMA_URL": chroma.url, "SHEGONG_REDIS_URL": REDIS_URL,
                      "SHEGONG_RATE_CHAT_PER_MIN": "3"}
            env1 = {**shared, "SHEGONG_DATA_DIR": str(tmp_path / "node1")}
            env2 = {**shared, "SHEGONG_DATA_DIR": str(tmp_path / "node2")}
            add_user(env1, user, "worker")
            add_user(env1, user + "-t", "trainer")
            add_user(env1, user + "-w", "worker", "宜川路街道")
            add_user(env1, user + "-s", "supervisor", "宜川路街道")
            with shegong_server(env1, "--ingest-default") as one, shegong_server(env2) as two:
                token = httpx.post(one + "/api/auth/login", json={"username": user, "password": PASSWORD},
                                   timeout=60).json()["token"]
                auth = {"Authorization": f"Bearer {token}"}
                h2 = httpx.get(two + "/api/health", timeout=30).json()
                assert h2["documents"] == 3 and h2["vectors"] == 3 and h2["limits"] == "redis", h2
                answers = []
                for url, q in ((one, QUESTIONS[0]), (two, QUESTIONS[0]), (two, QUESTIONS[1])):
                    r = httpx.post(url + "/api/chat", json={"question": q}, headers=auth, timeout=60)
                    assert r.status_code == 200, r.text  # the token from node 1 works on node 2
                    answers.append(r.json())
                assert answers[0]["answer"] == answers[1]["answer"] and not answers[0]["refused"]
                assert [c["chunk_id"] for c in answers[0]["citations"]] == [c["chunk_id"] for c in answers[1]["citations"]]
                r = httpx.post(one + "/api/chat", json={"question": QUESTIONS[2]}, headers=auth, timeout=60)
                assert r.status_code == 429 and "提问过于频繁" in r.json()["detail"], r.text  # 3 a minute, both nodes

                # a document uploaded through node 1 is answered from on node 2, with no restart
                t = httpx.post(one + "/api/auth/login", json={"username": user + "-t", "password": PASSWORD},
                               timeout=60).json()["token"]
                trainer = {"Authorization": f"Bearer {t}"}
                doc = "助浴服务：失能老人可以申请上门助浴，每月两次，由街道养老服务中心安排，费用由长护险支付。"
                up = httpx.post(one + "/api/documents", headers=trainer, timeout=120,
                                files={"file": ("助浴服务.txt", doc.encode(), "text/plain")})
                assert up.status_code in (200, 201), up.text
                body = httpx.post(two + "/api/chat", json={"question": "上门助浴每月几次？"}, headers=trainer,
                                  timeout=60).json()
                assert not body["refused"] and "两次" in body["answer"], body
                assert httpx.get(two + "/api/health", timeout=30).json()["documents"] == 4

                # a household registered and a visit recorded through node 1 are read back through node 2
                def bearer(url: str, name: str) -> dict[str, str]:
                    tok = httpx.post(url + "/api/auth/login", json={"username": name, "password": PASSWORD},
                                     timeout=60).json()["token"]
                    return {"Authorization": f"Bearer {tok}"}

                hh = httpx.post(one + "/api/households", headers=bearer(one, user + "-s"), timeout=60, json={
                    "juwei": JUWEI, "xiaoqu": "两节点测试小区（虚构）", "building": "3", "room": "301",
                    "worker": user + "-w", "tags": ["独居老人"],
                    "members": [{"name": "两节点测试户", "relation": "本人", "birth_year": 1940}]})
                assert hh.status_code == 200, hh.text
                hid = hh.json()["id"]
                visit = {"client_id": uuid.uuid4().hex, "household_id": hid, "method": "入户", "met": True,
                         "visited_on": "2026-12-01", "notes": "老人身体还好，想了解高龄津贴"}
                saved = httpx.post(one + "/api/visits", headers=bearer(one, user + "-w"), json=visit, timeout=60)
                assert saved.status_code == 200 and saved.json()["created"], saved.text
                seen = httpx.get(f"{two}/api/households/{hid}/visits", headers=bearer(two, user + "-s"),
                                 timeout=60).json()["items"]
                assert [v["id"] for v in seen] == [saved.json()["visit"]["id"]] and seen[0]["notes"] == visit["notes"]
                again = httpx.post(two + "/api/visits", headers=bearer(two, user + "-w"), json=visit, timeout=60)
                assert again.status_code == 200 and not again.json()["created"]  # the outbox's resend, on the other node

                # signing out on node 2 ends the session on node 1 too (tokens are rows of the shared database)
                worker = bearer(one, user + "-w")
                assert httpx.get(two + "/api/me", headers=worker, timeout=60).status_code == 200
                assert httpx.post(two + "/api/auth/logout", headers=worker, timeout=60).status_code == 200
                assert httpx.get(one + "/api/me", headers=worker, timeout=60).status_code == 401
    finally:
        chroma.stop()
