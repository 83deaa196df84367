"""``create_app(settings)``: one FastAPI process (API + Gradio UI); shared state built in the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api import (
    routes_account,
    routes_admin,
    routes_chat,
    routes_dashboard,
    routes_docs,
    routes_drafts,
    routes_health,
    routes_openai,
    routes_review,
    routes_visits,
    security,
)
from app.core.errors import (
    AuthError,
    ForbiddenError,
    NotFoundError,
    RateLimitError,
    ShegongError,
    UnavailableError,
    ValidationError,
)
from app.core.settings import Settings, disable_telemetry
from app.service.dashboard import warm_up as dashboard_warm_up
from app.service.state import build_state

log = logging.getLogger(__name__)

_STATUS = {NotFoundError: 404, ValidationError: 422, AuthError: 401, ForbiddenError: 403, RateLimitError: 429,
           UnavailableError: 503}
# Multipart framing and form fields on top of the file itself.
_UPLOAD_SLACK = 1024 * 1024


def create_app(settings: Settings, *, ui: bool = True) -> FastAPI:
    """Build the service for ``settings``; nothing heavy happens until start-up."""
    disable_telemetry()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = build_state(settings)
        state.assistant.warm_up()
        dashboard_warm_up()
        app.state.shegong = state
        yield
        state.curator.manifest.close()
        state.manifest.close()
        state.db.close()

    # /api/docs is Swagger UI from the fastapi-offline wheel: no CDN (none is reachable from a street
    # office's network, and the content security policy allows this server only)
    app = FastAPIOffline(title="社工AI助手 shegong", lifespan=lifespan, docs_url="/api/docs", redoc_url=None,
                         openapi_url="/api/openapi.json", static_url="/api/docs/static",
                         swagger_ui_oauth2_redirect_url="/api/docs/oauth2-redirect")

    @app.exception_handler(ShegongError)
    async def domain_error(_: Request, exc: ShegongError) -> JSONResponse:
        status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 400)
        headers = {}
        if isinstance(exc, RateLimitError):
            headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, AuthError):
            headers["WWW-Authenticate"] = "Bearer"
        body: dict[str, object] = {"detail": str(exc), "code": exc.code}
        if isinstance(exc, RateLimitError):
            body["retry_after"] = exc.retry_after
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        """Routing errors in Chinese too (an unknown address, a wrong method)."""
        known = {404: ("没有这个地址，请检查网址。", "not_found"), 405: ("这个地址不支持该请求方法。", "method_not_allowed")}
        detail, code = known.get(exc.status_code, (str(exc.detail), "http_error"))
        return JSONResponse({"detail": detail, "code": code}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            where = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
            msg = str(err.get("msg", "")).removeprefix("Value error, ")
            problems.append(f"{where}: {msg}" if where else msg)
        return JSONResponse({"detail": "请求内容有误：" + "；".join(problems), "code": "invalid_request"}, status_code=422)

    @app.middleware("http")
    async def body_limit(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Refuse an oversized upload from its Content-Length, before it is read or spooled."""
        length = request.headers.get("content-length")
        limit = int(min(settings.max_upload_mb, settings.max_file_mb) * 1024 * 1024) + _UPLOAD_SLACK
        if length and length.isdigit() and int(length) > limit:
            return JSONResponse(
                {"detail": f"上传内容过大：{int(length) / 1048576:.1f} MB，上限为 {limit / 1048576:.0f} MB。",
                 "code": "payload_too_large"}, status_code=413)
        return await call_next(request)

    app.include_router(routes_health.router)
    app.include_router(routes_account.router)
    app.include_router(routes_chat.router)
    app.include_router(routes_docs.router)
    app.include_router(routes_review.router)
    app.include_router(routes_admin.router)
    app.include_router(routes_openai.router)
    app.include_router(routes_visits.router)
    app.include_router(routes_dashboard.router)
    app.include_router(routes_drafts.router)

    if ui:
        from app.ui.mount import mount_ui
        from app.ui.render import UI_PATH

        mount_ui(app, settings)
    else:
        @app.get("/", include_in_schema=False)
        def root() -> RedirectResponse:
            return RedirectResponse("/api/health")

    # last, so it wraps everything above: headers on every response, CSRF refusals before any route
    security.install(app, settings, relaxed_prefix=UI_PATH if ui else "")
    return app
