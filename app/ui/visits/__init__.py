"""The visit module's phone page at ``/visits``: plan, household card and brief, quick capture and
record, follow-ups; a supervisor's urgent list on top.

A plain page with its own script rather than a Gradio tab, because a record must survive no
signal, a reload and a locked phone: the page keeps the worker's note and every unsent record in
the browser's storage (an outbox, each record with its own ``client_id`` so a retried save is one
visit), and a service worker keeps the page itself loadable offline. Nothing is fetched from
anywhere but this server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, RedirectResponse

from app.api.deps import SESSION_COOKIE, user_for
from app.core.errors import ShegongError
from app.core.settings import Settings

STATIC = Path(__file__).with_name("static")
VISITS_PATH = "/visits"
_FILES = {"app.js": "text/javascript", "write.js": "text/javascript", "app.css": "text/css", "sw.js": "text/javascript"}


def add_visit_routes(app: FastAPI, settings: Settings) -> None:
    @app.get(VISITS_PATH, include_in_schema=False)
    def page(request: Request) -> Response:
        if settings.auth == "on":
            try:
                user_for(request.app.state.shegong, request.cookies.get(SESSION_COOKIE))
            except ShegongError:
                return RedirectResponse("/login?next=" + quote(VISITS_PATH), status_code=303)
        return FileResponse(STATIC / "index.html", media_type="text/html",
                            headers={"Cache-Control": "no-cache"})

    @app.get(VISITS_PATH + "/{name}", include_in_schema=False)
    def asset(name: str) -> Response:
        if name not in _FILES:
            return Response("没有这个文件。", status_code=404, media_type="text/plain; charset=utf-8")
        headers = {"Cache-Control": "no-cache"}
        if name == "sw.js":
            headers["Service-Worker-Allowed"] = VISITS_PATH
        return FileResponse(STATIC / name, media_type=_FILES[name], headers=headers)

    @app.middleware("http")
    async def no_store_for_resident_data(request: Request,
                                         call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Replies holding residents' data are not kept by browsers or proxies."""
        resp = await call_next(request)
        p = request.url.path
        if p.startswith(("/api/households", "/api/visits", "/api/followups", "/api/plan", "/api/access-log",
                         "/api/drafts", "/api/dashboard", "/api/ask-data")):
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp
