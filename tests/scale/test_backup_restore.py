"""deploy/backup.sh and deploy/restore.sh, followed as deploy/README.md says, on real processes: a
node over PostgreSQL and a Chroma server answers; Chroma is stopped and both are backed up; they are
restored into a new database and a new directory; a new Chroma server and a node with an empty data
dir on them answer the same, and the visit records and accounts are there."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.scale.cluster import QUESTIONS, ChromaServer, add_user, write_kb
from tests.support import ROOT, fresh_postgres_db, shegong_server

DEPLOY = ROOT / "deploy"


def _libpq(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


def _answers(url: str) -> list[tuple[str, bool]]:
    out = []
    for q in QUESTIONS:
        body = httpx.post(url + "/api/chat", json={"question": q}, timeout=60).json()
        out.append((body["answer"], body["refused"]))
    return out


@pytest.mark.integration
def test_backup_then_restore_into_new_stores_answers_the_same(tmp_path: Path) -> None:
    kb = write_kb(tmp_path / "kb")
    chroma = ChromaServer(tmp_path / "chroma")
    chroma.start()
    with fresh_postgres_db() as db1, fresh_postgres_db() as db2:
        try:
            env = {"SHEGONG_AUTH": "off", "SHEGONG_KNOWLEDGE_DIR": str(kb), "SHEGONG_DATABASE_URL": db1,
                   "SHEGONG_CHROMA_URL": chroma.url, "SHEGONG_DATA_DIR": str(tmp_path / "node1")}
            add_user(env, "kept-worker", "worker")
            with shegong_server(env, "--ingest-default") as url:
                before = _answers(url)
            chroma.stop()  # step 1 of deploy/README.md's backup
            out = tmp_path / "backup"
            r = subprocess.run([str(DEPLOY / "backup.sh"), _libpq(db1), str(chroma.path), str(out)],
                               capture_output=True, text=True, timeout=300)
            assert r.returncode == 0 and "备份完成" in r.stdout, r.stderr
            assert sorted(p.name for p in out.iterdir()) == ["SHA256SUMS", "chroma.tar.gz", "shegong.dump"]
            again = subprocess.run([str(DEPLOY / "backup.sh"), _libpq(db1), str(chroma.path), str(out)],
                                   capture_output=True, text=True, timeout=60)
            assert again.returncode == 2 and "已存在" in again.stderr  # never over an earlier backup
        finally:
            chroma.stop()

        restored = ChromaServer(tmp_path / "chroma-restored")
        r = subprocess.run([str(DEPLOY / "restore.sh"), str(out), _libpq(db2), str(restored.path)],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0 and "恢复完成" in r.stdout, r.stderr
        r = subprocess.run([str(DEPLOY / "restore.sh"), str(out), _libpq(db2), str(tmp_path / "x")],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "已经有表" in r.stderr  # never over a database in use
        restored.start()
        try:
            env2 = {**env, "SHEGONG_DATABASE_URL": db2, "SHEGONG_CHROMA_URL": restored.url,
                    "SHEGONG_DATA_DIR": str(tmp_path / "node2")}
            with shegong_server(env2) as url:
                assert _answers(url) == before
                health = httpx.get(url + "/api/health", timeout=30).json()
                assert health["documents"] == 3 and health["vectors"] == 3
            with psycopg.connect(_libpq(db2)) as conn:
                assert conn.execute("SELECT count(*) FROM users WHERE username = 'kept-worker'").fetchone() == (1,)
                assert conn.execute("SELECT relrowsecurity FROM pg_class WHERE relname = 'households'").fetchone() == (True,)
        finally:
            restored.stop()


def test_a_damaged_backup_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "b"
    out.mkdir()
    (out / "shegong.dump").write_bytes(b"x")
    (out / "chroma.tar.gz").write_bytes(b"y")
    (out / "SHA256SUMS").write_text("0" * 64 + "  shegong.dump\n" + "0" * 64 + "  chroma.tar.gz\n")
    r = subprocess.run([str(DEPLOY / "restore.sh"), str(out), "postgresql://127.0.0.1/none", str(tmp_path / "c")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "校验和不符" in r.stderr
