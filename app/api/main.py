"""``create_app(settings)``: one FastAPI process; shared state built in the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse

from app.api import routes_chat, routes_health
from app.api.state import AppState
from app.errors import NotFoundError, ShegongError, ValidationError
from app.settings import Settings, disable_telemetry

log = logging.getLogger(__name__)

_STATUS = {NotFoundError: 404, ValidationError: 422}


def create_app(settings: Settings) -> FastAPI:
    """Build the service for ``settings``; nothing heavy happens until start-up."""
    disable_telemetry()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from app.rag.factory import build_assistant

        assistant = build_assistant(settings)
        assistant.warm_up()
        retriever = assistant.retriever
        app.state.shegong = AppState(
            settings=settings,
            embedder=retriever.embedder,
            store=retriever.store,
            manifest=retriever.manifest,
            assistant=assistant,
        )
        yield
        app.state.shegong.manifest.close()

    app = FastAPI(title="社工AI助手 shegong", lifespan=lifespan, docs_url="/api/docs", redoc_url=None,
                  openapi_url="/api/openapi.json")

    @app.exception_handler(ShegongError)
    async def domain_error(_: Request, exc: ShegongError) -> JSONResponse:
        status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 400)
        return JSONResponse({"detail": str(exc), "code": exc.code}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            where = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
            msg = str(err.get("msg", "")).removeprefix("Value error, ")
            problems.append(f"{where}: {msg}" if where else msg)
        return JSONResponse({"detail": "请求内容有误：" + "；".join(problems), "code": "invalid_request"}, status_code=422)

    app.include_router(routes_health.router)
    app.include_router(routes_chat.router)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/api/health")

    return app
