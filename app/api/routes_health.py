"""Health and knowledge-base status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.api.deps import StateDep
from app.api.replies import HealthOut

router = APIRouter()


@router.get("/api/health", response_model=HealthOut)
def health(state: StateDep) -> dict[str, Any]:
    """Liveness plus what the knowledge base holds and which embedder serves it."""
    return {
        "status": "ok",
        "documents": len(state.manifest.documents()),
        "chunks": state.manifest.count_chunks(),
        "vectors": state.store.count(),
        "embedder": {"backend": state.embedder.backend, "model": state.embedder.model_id, "dim": state.embedder.dim},
        "llm": {"configured": state.settings.llm_enabled},
        "auth": state.settings.auth,
    }
