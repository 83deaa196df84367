"""``kill -9`` of one of two API nodes while 50 sessions ask: the other node answers every request it
gets, before and after, and every answer either node acknowledged (saved to a conversation) is there
afterwards, read through the survivor. Real processes: PostgreSQL, a Chroma server, Redis, two nodes."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
import uuid
from pathlib import Path

import httpx
import psutil
import pytest

from tests.scale.cluster import QUESTIONS, REDIS_URL, ChromaServer, add_user, redis_or_skip, write_kb
from tests.support import PASSWORD, fresh_postgres_db, shegong_server

SESSIONS = 50


def _pid_listening_on(url: str) -> int:
    port = int(url.rsplit(":", 1)[1])
    return next(c.pid for c in psutil.net_connections("tcp") if c.laddr and c.laddr.port == port
                and c.status == psutil.CONN_LISTEN and c.pid)


@pytest.mark.integration
@pytest.mark.slow
def test_one_node_killed_while_fifty_sessions_ask(tmp_path: Path) -> None:
    redis_or_skip()
    kb = write_kb(tmp_path / "kb")
    chroma = ChromaServer(tmp_path / "chroma")
    chroma.start()
    user = f"load-{uuid.uuid4().hex[:8]}"
    try:
        with fresh_postgres_db() as db_url:
            shared = {"SHEGONG_AUTH": "on", "SHEGONG_KNOWLEDGE_DIR": str(kb), "SHEGONG_DATABASE_URL": db_url,
                      "SHEGONG_CHROMA_URL": chroma.url, "SHEGONG_REDIS_URL": REDIS_URL,
                      "SHEGONG_RATE_CHAT_PER_MIN": "100000"}
            env1 = {**shared, "SHEGONG_DATA_DIR": str(tmp_path / "n1")}
            env2 = {**shared, "SHEGONG_DATA_DIR": str(tmp_path / "n2")}
            add_user(env1, user, "worker")
            with shegong_server(env1, "--ingest-default") as one, shegong_server(env2) as two:
                token = httpx.post(two + "/api/auth/login", json={"username": user, "password": PASSWORD},
                                   timeout=60).json()["token"]
                auth = {"Authorization": f"Bearer {token}"}
                acked: list[tuple[str, int]] = []
                survivor: list[int] = []  # status codes node 2 gave
                victim: list[str] = []  # what node 1 gave: a status, or the error after the kill
                stop = threading.Event()
                lock = threading.Lock()

                def session(i: int) -> None:
                    url = one if i % 2 else two
                    rng = random.Random(i)
                    with httpx.Client(base_url=url, headers=auth, timeout=60) as c:
                        stop.wait(rng.uniform(0, 5))  # sessions start spread out
                        while not stop.is_set():
                            try:
                                r = c.post("/api/chat", json={"question": rng.choice(QUESTIONS[:3]), "save": True})
                                outcome: str | int = r.status_code
                            except httpx.HTTPError as exc:
                                outcome = type(exc).__name__
                                r = None
                            with lock:
                                (victim if url == one else survivor).append(outcome)  # type: ignore[arg-type]
                                if r is not None and r.status_code == 200:
                                    body = r.json()
                                    acked.append((body["conversation_id"], body["message_id"]))
                            stop.wait(rng.uniform(5, 15))  # a worker's think time, as issue 19 measured

                threads = [threading.Thread(target=session, args=(i,)) for i in range(SESSIONS)]
                for t in threads:
                    t.start()
                time.sleep(20)
                before_kill = len(acked)
                os.kill(_pid_listening_on(one), signal.SIGKILL)
                time.sleep(20)
                stop.set()
                for t in threads:
                    t.join(120)

                assert before_kill > 0 and 200 in victim and any(isinstance(v, str) for v in victim)
                assert survivor and set(survivor) == {200}, __import__("collections").Counter(survivor)  # not one error on node 2
                with httpx.Client(base_url=two, headers=auth, timeout=60) as c:
                    kept: dict[str, set[int]] = {}
                    for cid, mid in acked:
                        if cid not in kept:
                            msgs = c.get(f"/api/conversations/{cid}").json()["messages"]
                            kept[cid] = {m["id"] for m in msgs}
                        assert mid in kept[cid], (cid, mid)
                print(f"\n{len(acked)} acknowledged answers ({before_kill} before the kill), node 2 answered "
                      f"{len(survivor)} requests without an error, node 1 gave {len(victim)}")
    finally:
        chroma.stop()
