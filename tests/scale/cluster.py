"""What the multi-process tests of tests/scale share: a real Chroma server (``chroma run`` from the
chromadb package) on a free loopback port, which a test can stop and start again on the same port
and directory; three small documents and questions over them; accounts made with the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support import free_port

REDIS_URL = os.environ.get("SHEGONG_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")  # the machine's, as in CI

CHROMA = Path(sys.executable).with_name("chroma")


class ChromaServer:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60) -> None:
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

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


# -- what the multi-process tests of tests/scale share --------------------------------------------
DOCS = {
    "gas.txt": "走访独居老人时要查看燃气安全：燃气灶的软管是否老化，用完是否关阀。发现燃气泄漏应立即开窗，不要开关电器，拨打燃气公司抢修电话。",
    "allowance.txt": "高龄津贴的申领：年满80周岁的本市户籍老人，由本人或家属持身份证和户口簿到居住地社区事务受理服务中心申请。",
    "flood.txt": "汛期前居委会要排查地下室、低洼处的住户，登记行动不便的老人，准备沙袋和应急照明。",
}
QUESTIONS = ["燃气泄漏了怎么办？", "高龄津贴去哪里申请？", "汛期前居委会要做什么？", "明天上海会下雨吗？"]


def write_kb(directory: Path) -> Path:
    """The three small documents of :data:`DOCS` in ``directory`` (made), for ``--ingest-default``."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in DOCS.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def add_user(env: dict[str, str], name: str, role: str = "worker") -> None:
    """``shegong user add`` with the test password, under ``env`` (a node's settings)."""
    from tests.support import PASSWORD, ROOT

    r = subprocess.run([sys.executable, "-m", "app.cli", "user", "add", name, "--role", role, "--password-stdin"],
                       cwd=ROOT, env={**os.environ, **env}, input=PASSWORD + "\n", capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr


def redis_or_skip() -> None:
    """Skip where no Redis answers (saying so); in CI, where one runs, fail instead."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no Redis at {REDIS_URL}")
