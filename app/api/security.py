"""Browser-facing hardening for every response of the process: security headers, a content security
policy with no remote origin, and CSRF protection for requests authenticated by the session cookie.

Two pure-ASGI middlewares, installed by :func:`install` in ``create_app``:

- :class:`SecurityHeaders` adds ``Content-Security-Policy``, ``X-Content-Type-Options: nosniff``,
  ``Referrer-Policy``, ``X-Frame-Options: DENY`` and, when ``settings.https``,
  ``Strict-Transport-Security`` to every HTTP response (the API, the UI pages, static files, errors).
  The policy is :data:`CSP_BASE` everywhere; under the Gradio UI's path it adds exactly the
  relaxations of :data:`GRADIO_RELAXATIONS`, each with its reason. Inline ``<script>`` and
  ``<style>`` blocks of an HTML page this server renders (Gradio's page carries its config as an
  inline script; the sign-in page its style) are allowed by their SHA-256 hash, taken from that
  very response, so no ``'unsafe-inline'`` is needed for scripts and inline event handlers stay
  blocked.
- :class:`CSRFGuard` refuses (403, in Chinese) a POST/PUT/PATCH/DELETE that carries the session
  cookie and no bearer token unless its ``Origin`` (or, without one, its ``Referer``) is this
  site. Browsers send ``Origin`` on every such request from a page, including the UI's ``fetch``
  calls and forms, so the UI needs no token; programs that send ``Authorization: Bearer`` are not
  affected (a page on another site cannot set that header without a CORS grant this server never
  gives). A request without the cookie is refused only when it names another origin: that guards
  the local trial mode (``SHEGONG_AUTH=off``) and the sign-in form against a hostile page, and
  leaves command-line clients alone.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.deps import SESSION_COOKIE
from app.core.settings import Settings

# The policy for every response: this server only, nothing framed, no plugins.
CSP_BASE: dict[str, tuple[str, ...]] = {
    "default-src": ("'self'",),
    "script-src": ("'self'",),
    "style-src": ("'self'",),
    "img-src": ("'self'",),
    "font-src": ("'self'",),
    "connect-src": ("'self'",),
    "media-src": ("'self'",),
    "worker-src": ("'self'",),  # the visit page's service worker, /visits/sw.js
    "manifest-src": ("'self'",),
    "frame-src": ("'none'",),
    "frame-ancestors": ("'none'",),
    "object-src": ("'none'",),
    "base-uri": ("'self'",),
    "form-action": ("'self'",),
}

# What Gradio's page (mounted at the UI path) needs beyond CSP_BASE, found by loading every tab in
# Chromium and listening for `securitypolicyviolation` events (tests/ui check that none is left).
# Not needed, so not granted: 'unsafe-inline' or 'unsafe-eval' for scripts (the inline scripts of
# Gradio's page go by hash; the header is a gr.Markdown, since gr.HTML compiles its template with
# `new Function`), data:/blob: images, fonts, websockets (Gradio 6 streams over fetch), frames.
# (directive, source, why)
GRADIO_RELAXATIONS: tuple[tuple[str, str, str], ...] = (
    ("style-src", "'unsafe-inline'",
     "Gradio's page sets style attributes on <html>, <body> and <gradio-app>, and its Svelte components "
     "add <style> elements (theme, component and custom CSS) and style attributes at run time"),
)

HSTS = "max-age=31536000"
# same-origin, not no-referrer: under no-referrer a browser sends "Origin: null" with a form post,
# and the CSRF check could no longer tell the sign-in form from a hostile page. Other sites get no
# Referer either way.
REFERRER_POLICY = "same-origin"

_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_INLINE = re.compile(r"<(script|style)\b([^>]*)>(.*?)</\1\s*>", re.IGNORECASE | re.DOTALL)
_SRC_ATTR = re.compile(r"\bsrc\s*=", re.IGNORECASE)
_HEADER_NAMES = (b"content-security-policy", b"x-content-type-options", b"referrer-policy", b"x-frame-options",
                 b"strict-transport-security")


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def inline_hashes(page: str) -> tuple[list[str], list[str]]:
    """The CSP hashes of the inline ``<script>`` (without ``src``) and ``<style>`` blocks of ``page``."""
    scripts: list[str] = []
    styles: list[str] = []
    for tag, attrs, body in _INLINE.findall(page):
        if tag.lower() == "style":
            styles.append(_sha256(body))
        elif not _SRC_ATTR.search(attrs) and body.strip():
            scripts.append(_sha256(body))
    return scripts, styles


def content_security_policy(*, relaxed: bool, script_hashes: Iterable[str] = (),
                            style_hashes: Iterable[str] = ()) -> str:
    """The policy for one response: :data:`CSP_BASE`, with :data:`GRADIO_RELAXATIONS` when ``relaxed``
    and the given inline hashes (a style hash is left out where ``'unsafe-inline'`` must hold, since a
    hash would switch it off)."""
    policy = {k: list(v) for k, v in CSP_BASE.items()}
    if relaxed:
        for directive, source, _why in GRADIO_RELAXATIONS:
            policy.setdefault(directive, list(CSP_BASE["default-src"]))
            if source not in policy[directive]:
                policy[directive].append(source)
    for directive, hashes in (("script-src", script_hashes), ("style-src", style_hashes)):
        if directive == "style-src" and "'unsafe-inline'" in policy[directive]:
            continue
        policy[directive].extend(h for h in dict.fromkeys(hashes) if h not in policy[directive])
    return "; ".join(f"{k} {' '.join(v)}" for k, v in policy.items())


def _under(path: str, prefix: str) -> bool:
    return bool(prefix) and (path == prefix or path.startswith(prefix.rstrip("/") + "/"))


class SecurityHeaders:
    """Adds the security headers to every HTTP response (replacing any the app set itself)."""

    def __init__(self, app: ASGIApp, *, https: bool, relaxed_prefix: str = "") -> None:
        self.app = app
        self.https = https
        self.relaxed_prefix = relaxed_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        relaxed = _under(scope.get("path", ""), self.relaxed_prefix)
        start: Message | None = None
        body: list[bytes] = []

        def headers_for(message: Message, page: bytes | None) -> list[tuple[bytes, bytes]]:
            kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _HEADER_NAMES]
            scripts, styles = inline_hashes(page.decode("utf-8", "replace")) if page else ([], [])
            csp = content_security_policy(relaxed=relaxed, script_hashes=scripts, style_hashes=styles)
            kept += [(b"content-security-policy", csp.encode()), (b"x-content-type-options", b"nosniff"),
                     (b"referrer-policy", REFERRER_POLICY.encode()), (b"x-frame-options", b"DENY")]
            if self.https:
                kept.append((b"strict-transport-security", HSTS.encode()))
            return kept

        async def wrapped(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                ctype = Headers(raw=message.get("headers", [])).get("content-type", "")
                if ctype.startswith("text/html"):
                    start = message  # hold it: the policy depends on the page's inline blocks
                    return
                await send({**message, "headers": headers_for(message, None)})
                return
            if message["type"] == "http.response.body" and start is not None:
                body.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                page = b"".join(body)
                await send({**start, "headers": headers_for(start, page)})
                start = None
                await send({"type": "http.response.body", "body": page, "more_body": False})
                return
            await send(message)

        await self.app(scope, receive, wrapped)


def _origin_of(value: str) -> tuple[str, str] | None:
    """(scheme, host[:port]) of an Origin or Referer value, default ports dropped; None if unusable."""
    if not value or value == "null":
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return parts.scheme, _netloc(parts.scheme, parts.netloc)


def _netloc(scheme: str, netloc: str) -> str:
    netloc = netloc.lower().rsplit("@", 1)[-1]
    default = {"http": ":80", "https": ":443"}.get(scheme, "")
    return netloc[: -len(default)] if default and netloc.endswith(default) else netloc


def csrf_problem(scope: Scope, *, https: bool) -> tuple[str, str] | None:
    """Why this request must be refused as a possible cross-site request forgery, as
    ``(code, message)``; None when it may go on."""
    headers = Headers(scope=scope)
    if headers.get("authorization", "").lower().startswith("bearer "):
        return None
    has_cookie = bool(cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE))
    raw_origin = headers.get("origin")
    named = raw_origin if raw_origin is not None else headers.get("referer")
    host = headers.get("host", "")
    scheme = "https" if https else scope.get("scheme", "http").replace("ws", "http")
    own = _netloc(scheme, host)
    if not named:
        if not has_cookie:
            return None  # not a browser page: a program, with or without a token
        return ("csrf_origin_missing",
                "已拒绝：这个请求凭登录 Cookie 修改数据，却没有带 Origin 或 Referer 请求头，无法确认它来自本站页面"
                "（跨站请求伪造防护）。请从本站页面操作；程序调用请改用 Authorization: Bearer 令牌。")
    origin = _origin_of(named)
    if origin is not None and origin[1] == own and (origin[0] == "https" or not https):
        return None
    shown = named if origin is None else f"{origin[0]}://{origin[1]}"
    return ("csrf_origin_mismatch",
            f"已拒绝：请求来源 {shown[:200]} 不是本站（{host[:200]}），可能是其他网站冒用您的登录发起的请求"
            "（跨站请求伪造防护）。请从本站页面操作；如果服务在反向代理之后，请让代理转发原始的 Host 请求头"
            + ("并使用 HTTPS。" if https else "。"))


class CSRFGuard:
    """Refuses cookie-authenticated changes (and websocket connections) from another origin."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        checked = scope["type"] == "websocket" or (scope["type"] == "http" and scope["method"] in _UNSAFE)
        problem = csrf_problem(scope, https=self.https) if checked else None
        if problem is None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": problem[0]})
            return
        code, detail = problem
        payload = json.dumps({"detail": detail, "code": code}, ensure_ascii=False).encode()
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


def install(app: FastAPI, settings: Settings, *, relaxed_prefix: str = "") -> None:
    """Put both middlewares around the whole app (``relaxed_prefix``: where the Gradio UI is mounted).
    Call last in ``create_app``: the middleware added last runs first, so every response, refusals
    included, gets the headers."""
    app.add_middleware(CSRFGuard, https=settings.https)
    app.add_middleware(SecurityHeaders, https=settings.https, relaxed_prefix=relaxed_prefix)
