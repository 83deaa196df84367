"""One knowledge-base writer across nodes: with the manifest on PostgreSQL, a second node's ingest
(another data dir, so its file lock is no help) waits for the first and then is told in Chinese that
another node is writing; the lock is free again once the first is done, or its connection is gone."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from app.core.database import make_engine
from app.core.errors import IngestError
from ingest.pipeline import data_lock
from tests.support import fresh_postgres_db


def test_a_second_nodes_writer_is_told_another_is_writing(tmp_path: Path) -> None:
    with fresh_postgres_db() as url:
        node1, node2 = make_engine(url), make_engine(url)  # two nodes: two engines, two data dirs
        try:
            holding, release = threading.Event(), threading.Event()

            def first() -> None:
                with data_lock(tmp_path / "a", node1):
                    holding.set()
                    release.wait(30)

            t = threading.Thread(target=first)
            t.start()
            assert holding.wait(30)
            with pytest.raises(IngestError, match="另一个节点正在写知识库"), data_lock(tmp_path / "b", node2, wait_s=1):
                pass
            release.set()
            t.join(30)
            with data_lock(tmp_path / "b", node2, wait_s=5):  # free again
                pass
            # a writer that dies with its connection leaves no lock behind
            conn = node1.connect()
            conn.exec_driver_sql("SELECT pg_advisory_lock(1584332801)")  # the writer's key, 0x5E6F0001
            conn.invalidate()
            conn.close()
            with data_lock(tmp_path / "b", node2, wait_s=5):
                pass
        finally:
            node1.dispose()
            node2.dispose()


def test_sqlite_keeps_the_file_lock_alone(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    with data_lock(tmp_path / "d", engine):
        pass
    engine.dispose()
