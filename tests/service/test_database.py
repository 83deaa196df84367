"""The records database: created at its newest revision on SQLite and on PostgreSQL, upgraded once
when several processes start together, and a data dir written before SQLAlchemy upgraded with
nothing lost (``tests/fixtures/datadir_v0.tar.gz``, made by ``tests/fixtures/make_datadir_v0.py``)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path

import httpx
import pytest
from sqlalchemy import inspect, text

from app.core.database import current, make_engine
from app.core.errors import ConfigError
from app.service.db import ServiceDB
from app.service.tables import RECORDS, metadata
from tests.support import PASSWORD, ROOT, cli, shegong_server

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
HEAD = "0003"  # the newest revision of app/service/migrations


def test_a_fresh_database_is_made_at_the_newest_revision(records_url: str) -> None:
    db = ServiceDB(records_url)
    try:
        assert db.revision == HEAD and current(db.engine, RECORDS) == HEAD
        assert set(metadata.tables) <= set(inspect(db.engine).get_table_names())
        again = ServiceDB(records_url)  # opening it again changes nothing
        assert again.revision == HEAD
        again.close()
        with db.read() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM alembic_version")).scalar_one() == 1
    finally:
        db.close()


@pytest.mark.slow
def test_processes_starting_together_upgrade_once(records_url: str) -> None:
    code = "import sys; from app.service.db import ServiceDB; print(ServiceDB(sys.argv[1]).revision)"
    procs = [subprocess.Popen([sys.executable, "-c", code, records_url], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in outs]
    assert [out.strip() for out, _ in outs] == [HEAD] * 4
    engine = make_engine(records_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD]
    engine.dispose()


def test_a_bad_database_url_says_what_is_wrong() -> None:
    with pytest.raises(ConfigError, match="不支持的数据库"):
        ServiceDB("mysql://x@localhost/y")
    with pytest.raises(ConfigError, match="无法解析"):
        ServiceDB("not a url")


def _rows(db_file: Path) -> dict[str, int]:
    with sqlite3.connect(db_file) as db:
        names = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'") if not t.startswith("sqlite_")]
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in names}


@pytest.mark.slow
@pytest.mark.integration
def test_a_data_dir_of_the_code_before_upgrades_with_nothing_lost(tmp_path: Path) -> None:
    expected = json.loads((FIXTURES / "datadir_v0.expected.json").read_text(encoding="utf-8"))
    with tarfile.open(FIXTURES / "datadir_v0.tar.gz") as tar:
        tar.extractall(tmp_path, filter="data")
    data = tmp_path / "data"
    before = {f"service.{t}": n for t, n in _rows(data / "service.sqlite3").items()}
    assert before == {k: v for k, v in expected["rows"].items() if k.startswith("service.")}

    r = cli(data, "db", "current")
    assert r.returncode == 0 and "未升级" in r.stdout, r.stdout + r.stderr
    r = cli(data, "db", "upgrade")
    assert r.returncode == 0 and HEAD in r.stdout, r.stdout + r.stderr
    after = _rows(data / "service.sqlite3")
    assert after.pop("alembic_version") == 1
    old = {t: n for t, n in after.items() if f"service.{t}" in before}
    assert {f"service.{t}": n for t, n in old.items()} == before  # every row still there
    assert all(n == 0 for t, n in after.items() if t not in old)  # the visit module's tables, new and empty

    env = {"SHEGONG_DATA_DIR": str(data), "SHEGONG_AUTH": "on", **({"CI": os.environ["CI"]} if "CI" in os.environ else {})}
    with shegong_server(env) as url, httpx.Client(base_url=url, timeout=60) as c:
        def login(name: str) -> dict[str, str]:
            res = c.post("/api/auth/login", json={"username": name, "password": PASSWORD})
            assert res.status_code == 200, res.text
            return {"Authorization": f"Bearer {res.json()['token']}"}

        worker, admin = login("worker1"), login("admin1")
        assert c.get("/api/me", headers=worker).json()["region"] == "宜川路街道"
        convs = c.get("/api/conversations", headers=worker).json()["conversations"]
        assert len(convs) == 2
        msgs = [m for cv in convs for m in c.get(f"/api/conversations/{cv['id']}", headers=worker).json()["messages"]]
        first = next(m for m in msgs if m["id"] == expected["answer_message_id"])
        assert first["answer"] == expected["answer"] and first["rating"] == -1 and first["comment"] == "想知道要登记哪些内容"
        review = {i["message_id"]: i["status"] for i in c.get("/api/review?status=", headers=admin).json()["items"]}
        assert review == {expected["answer_message_id"]: "added", expected["refused_message_id"]: "dismissed"}
        cases = [json.loads(line) for line in c.get("/api/cases", headers=admin).text.splitlines()]
        assert [case["evidence"] for case in cases] == [["3个工作日内"]]
        assert len(c.get("/api/audit", headers=admin).json()["entries"]) == expected["rows"]["service.audit"]
        doc = c.get(f"/api/documents/{expected['doc_id']}", headers=admin).json()
        assert doc["meta"]["issuer"] == "宜川路街道办事处（示例）" and len(doc["versions"]) == 1
        # the knowledge base still answers, from the replaced file; new records are written on top
        ans = c.post("/api/chat", headers=worker, json={"question": "走访后几天内要完成登记？"}).json()
        assert "2个工作日" in ans["answer"] and ans["message_id"] > expected["refused_message_id"]
    # the manifest was upgraded in place too: stamped at its baseline, every row kept
    manifest_rows = _rows(data / "manifest.sqlite3")
    assert manifest_rows.pop("manifest_version") == 1
    for table in ("documents", "chunks", "curation"):
        assert manifest_rows[table] == expected["rows"][f"manifest.{table}"], table
    assert manifest_rows["embeddings"] >= expected["rows"]["manifest.embeddings"]


@pytest.mark.slow
@pytest.mark.integration
def test_the_service_keeps_its_records_on_postgresql(tmp_path: Path) -> None:
    """SHEGONG_DATABASE_URL moves the records and the manifest: a document ingested and accounts made by
    the CLI, then a chat, feedback and the review queue through the HTTP API, all in PostgreSQL; only
    Chroma and the BM25 index stay in the data dir."""
    from tests.support import fresh_postgres_db

    src = tmp_path / "src"
    src.mkdir()
    (src / "登记.md").write_text("# 走访登记（虚构示例）\n\n走访后应当在3个工作日内完成登记。\n", encoding="utf-8")
    data = tmp_path / "data"
    with fresh_postgres_db() as url:
        env = {**os.environ, "SHEGONG_DATA_DIR": str(data), "SHEGONG_DATABASE_URL": url}

        def run(*args: str, stdin: str = "") -> None:
            r = subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=ROOT, env=env, input=stdin,
                               capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stdout + r.stderr

        run("ingest", str(src))
        run("user", "add", "pg-worker", "--password-stdin", stdin=PASSWORD + "\n")
        run("user", "add", "pg-admin", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
        with shegong_server({"SHEGONG_DATA_DIR": str(data), "SHEGONG_DATABASE_URL": url, "SHEGONG_AUTH": "on"}) as base, \
                httpx.Client(base_url=base, timeout=60) as c:
            tok = {n: c.post("/api/auth/login", json={"username": n, "password": PASSWORD}).json()["token"]
                   for n in ("pg-worker", "pg-admin")}
            worker, admin = ({"Authorization": f"Bearer {tok[n]}"} for n in ("pg-worker", "pg-admin"))
            ans = c.post("/api/chat", headers=worker, json={"question": "走访后几天内要完成登记？"}).json()
            assert "3个工作日" in ans["answer"]
            assert c.post("/api/feedback", headers=worker, json={"message_id": ans["message_id"], "rating": -1}).status_code == 200
            items = c.get("/api/review", headers=admin).json()["items"]
            assert [i["message_id"] for i in items] == [ans["message_id"]]
        engine = make_engine(url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM users")).scalar_one() == 2
            assert conn.execute(text("SELECT COUNT(*) FROM messages")).scalar_one() == 1
            assert conn.execute(text("SELECT COUNT(*) FROM documents")).scalar_one() == 1  # the manifest too
            assert conn.execute(text("SELECT version_num FROM manifest_version")).scalar_one() == "m0001"
        engine.dispose()
        assert not (data / "service.sqlite3").exists() and not (data / "manifest.sqlite3").exists()
        assert (data / "chroma").is_dir()  # the derived indexes stay on the node
