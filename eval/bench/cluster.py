"""The pieces of a multi-node deployment that the bench and tests/scale both start: a free loopback
port, a real Chroma server (``chroma run`` from the chromadb package) that can be stopped and
started again on the same port and directory, a fresh PostgreSQL database dropped afterwards, and
the machine's Redis.

Tests import these from here (eval never imports from tests).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# The machine's PostgreSQL (trust auth) and Redis, as in CI; SHEGONG_TEST_* name others.
POSTGRES = os.environ.get("SHEGONG_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("SHEGONG_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

CHROMA = Path(sys.executable).with_name("chroma")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ChromaServer:
    """``chroma run --path PATH`` on a free loopback port (telemetry off, output discarded)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60) -> None:
        """Start it and wait for its heartbeat; RuntimeError when it does not answer in time."""
        import httpx

        self.proc = subprocess.Popen([str(CHROMA), "run", "--path", str(self.path), "--host", "127.0.0.1",
                                      "--port", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env={"ANONYMIZED_TELEMETRY": "False", "PATH": "/usr/bin:/bin"})
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/api/v2/heartbeat", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"chroma run did not start on {self.url}")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def postgres_admin(admin_url: str = POSTGRES) -> Any:
    """An autocommit connection to the server's maintenance database (psycopg.OperationalError
    when no server answers)."""
    import psycopg

    return psycopg.connect(admin_url, autocommit=True, connect_timeout=5)


@contextmanager
def new_database(admin: Any, admin_url: str = POSTGRES, prefix: str = "shegong_bench_") -> Iterator[str]:
    """A new, empty database on the server of ``admin``; yields its SQLAlchemy URL and drops it
    (closing whatever still holds it) afterwards."""
    from psycopg import sql

    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        yield f"{base}/{name}"
    finally:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def postgres_db(admin_url: str = POSTGRES, prefix: str = "shegong_bench_") -> Iterator[str | None]:
    """A fresh PostgreSQL database for the bench (None when no server answers), dropped after."""
    try:
        admin = postgres_admin(admin_url)
    except Exception:
        yield None
        return
    with admin, new_database(admin, admin_url, prefix) as url:
        yield url


def redis_answers(url: str = REDIS_URL) -> str | None:
    """None when the Redis at ``url`` answers a PING, else why not."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return f"no Redis at {url} ({exc})"
    return None
