"""What the multi-process tests of tests/scale share: a real Chroma server (``chroma run``, shared
with the bench in ``eval/bench/cluster.py``), which a test can stop and start again on the same port
and directory; three small documents and questions over them; accounts made with the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eval.bench.cluster import CHROMA, REDIS_URL, ChromaServer, redis_answers

__all__ = ["CHROMA", "DOCS", "QUESTIONS", "REDIS_URL", "ChromaServer", "add_user", "redis_or_skip", "write_kb"]


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


def add_user(env: dict[str, str], name: str, role: str = "worker", region: str = "") -> None:
    """``shegong user add`` with the test password, under ``env`` (a node's settings)."""
    from tests.support import PASSWORD, ROOT

    where = ["--region", region] if region else []
    r = subprocess.run([sys.executable, "-m", "app.cli", "user", "add", name, "--role", role, *where,
                        "--password-stdin"],
                       cwd=ROOT, env={**os.environ, **env}, input=PASSWORD + "\n", capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr


def redis_or_skip() -> None:
    """Skip where no Redis answers (saying so); in CI, where one runs, fail instead."""
    why = redis_answers(REDIS_URL)
    if why is not None:
        if os.environ.get("CI"):
            raise RuntimeError(why)
        pytest.skip(why)
