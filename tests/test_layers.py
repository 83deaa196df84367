"""The layering contract (``[tool.importlinter]`` in pyproject.toml) holds, and fails on an upward import.

The second test copies the packages to a temporary directory, plants one import from the core up
into the API, and runs the same check there: it must break, and name the planted import.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT

LINT = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("app", "ingest", "eval")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_layers_kept() -> None:
    r = _lint(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 kept, 0 broken" in r.stdout


def test_planted_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.json", "*.jsonl", "*.gz"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    types = tmp_path / "app" / "core" / "types.py"
    types.write_text(types.read_text(encoding="utf-8") + "\n\nfrom app.api import deps  # planted\n", encoding="utf-8")
    r = _lint(tmp_path)
    assert r.returncode != 0, r.stdout
    assert "BROKEN" in r.stdout
    assert "app.core.types -> app.api.deps" in r.stdout
