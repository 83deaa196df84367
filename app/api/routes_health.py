"""Health and knowledge-base status."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.deps import StateDep
from app.api.replies import HealthOut
from app.core.errors import UnavailableError

router = APIRouter()


log = logging.getLogger(__name__)


@router.get("/api/health", response_model=HealthOut, responses={503: {"model": HealthOut}})
def health(state: StateDep) -> Any:
    """Liveness plus what the knowledge base holds and which embedder serves it. When a service this
    node needs cannot be reached, 503 with ``down`` naming it (in Chinese) and the figures it could
    not read as -1. Redis away is "degraded" with 200: the node still answers (limits let through)."""
    down: dict[str, str] = {}
    vectors = -1
    try:
        vectors = state.store.count()
    except UnavailableError as exc:
        down["chroma"] = str(exc)
    shared = state.chat_limit.ping()
    if shared:
        down["redis"] = shared
    try:
        documents, chunks = len(state.manifest.documents()), state.manifest.count_chunks()
    except Exception as exc:  # the records' database is away: say so instead of a bare 500
        log.warning("health: the manifest cannot be read: %s", type(exc).__name__)
        documents = chunks = -1
        down["database"] = "记录库（数据库）暂时连不上。"
    body: dict[str, Any] = {
        "status": "degraded" if down else "ok",
        "documents": documents,
        "chunks": chunks,
        "vectors": vectors,
        "embedder": {"backend": state.embedder.backend, "model": state.embedder.model_id, "dim": state.embedder.dim},
        "llm": {"configured": state.settings.llm_enabled},
        "auth": state.settings.auth,
        "vector_store": "server" if state.store.url else "embedded",
        "limits": "redis" if state.settings.redis_url else "memory",
        "down": down,
    }
    if down.keys() & {"chroma", "database"}:  # chat cannot work: take this node out of the balancer
        return JSONResponse(HealthOut.model_validate(body).model_dump(), status_code=503)
    return body
