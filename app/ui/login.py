"""The sign-in page and its routes (plain HTML: it must work before any script loads), and the
redirect of a signed-out visit to the UI page."""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from fastapi import FastAPI, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from app.api.deps import SESSION_COOKIE, login_with_backoff, user_for
from app.core.errors import ShegongError
from app.core.settings import Settings
from app.service.state import AppState
from app.ui.render import SYSTEM_FONTS, UI_PATH


def _login_page(message: str = "", next_url: str = UI_PATH) -> str:
    msg = f'<p class="err">{html.escape(message)}</p>' if message else ""
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>登录 · 社工AI助手</title>
<style>body{{font-family:{",".join(repr(f) for f in SYSTEM_FONTS)};margin:0;background:#f4f6f8}}
main{{max-width:380px;margin:12vh auto;background:#fff;padding:24px;border-radius:10px;box-shadow:0 1px 4px #0002}}
h1{{font-size:1.3rem;margin-top:0}}label{{display:block;margin:12px 0 4px}}
input{{width:100%;box-sizing:border-box;font-size:1.05rem;padding:10px;border:1px solid #bbb;border-radius:6px}}
button{{margin-top:18px;width:100%;font-size:1.1rem;padding:10px;border:0;border-radius:6px;background:#2563eb;color:#fff}}
.err{{color:#b91c1c}}</style></head><body><main><h1>社工AI助手 · 登录</h1>{msg}
<form method="post" action="/login"><input type="hidden" name="next" value="{html.escape(next_url)}">
<label for="u">用户名</label><input id="u" name="username" autocomplete="username" required>
<label for="p">密码</label><input id="p" name="password" type="password" autocomplete="current-password" required>
<button type="submit">登录</button></form></main></body></html>"""


def _safe_next(url: str) -> str:
    """Only a page of this service (the UI or the visit page), never another site."""
    ok = url.startswith(UI_PATH) or url == "/visits" or url.startswith("/visits#")
    return url if ok and "//" not in url and "\\" not in url else UI_PATH


def add_login_routes(app: FastAPI, settings: Settings) -> None:
    @app.get("/login", include_in_schema=False)
    def login_form(next: str = UI_PATH) -> HTMLResponse:
        if settings.auth == "off":
            return HTMLResponse(_login_page("本机试用模式未开启登录，直接打开 /ui 即可。", UI_PATH))
        return HTMLResponse(_login_page(next_url=_safe_next(next)))

    @app.post("/login", include_in_schema=False)
    def login_submit(request: Request, username: str = Form(""), password: str = Form(""),
                     next: str = Form(UI_PATH)) -> Response:
        state: AppState = request.app.state.shegong
        try:
            token, _ = login_with_backoff(request, state, username, password, label="ui")
        except ShegongError as exc:
            return HTMLResponse(_login_page(str(exc), _safe_next(next)), status_code=401)
        resp = RedirectResponse(_safe_next(next), status_code=303)
        # HttpOnly: no script reads it. SameSite=Lax: not sent with another site's posts, frames or
        # images; Strict would also drop it when a worker opens a link to /visits from a chat app, who
        # would then meet the sign-in page though signed in. Secure when served over HTTPS. The Origin
        # check of app/api/security.py covers what Lax leaves open (a same-site page, another port).
        secure = settings.https or request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
        resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", path="/", secure=secure,
                        max_age=int(state.accounts.token_ttl_s))
        return resp

    @app.get("/logout", include_in_schema=False)
    def logout(request: Request) -> Response:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            request.app.state.shegong.accounts.revoke(token)
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=settings.https)
        return resp

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(UI_PATH + "/")

    @app.middleware("http")
    async def ui_needs_login(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """A signed-out visit to the UI page goes to the sign-in page (Gradio itself would say 401)."""
        path = request.url.path
        if settings.auth == "on" and request.method == "GET" and path in (UI_PATH, UI_PATH + "/"):
            try:
                user_for(request.app.state.shegong, request.cookies.get(SESSION_COOKIE))
            except ShegongError:
                return RedirectResponse("/login?next=" + quote(UI_PATH + "/"), status_code=303)
        return await call_next(request)
