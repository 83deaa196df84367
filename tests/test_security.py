"""Web hardening on real servers on 127.0.0.1: security headers on the API, the UI pages and static
files, HSTS and the Secure cookie only behind HTTPS, the session cookie's flags, CSRF refusals of
cookie-authenticated changes from elsewhere (bearer calls unaffected). The browser side (no CSP
violation on any page the UI tests open) is checked by tests/ui/conftest.py."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.api.deps import SESSION_COOKIE
from app.api.security import GRADIO_RELAXATIONS, content_security_policy, csrf_problem, inline_hashes
from tests.support import PASSWORD, cli, shegong_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@dataclass
class Site:
    url: str
    token: str  # the admin's bearer token

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _start(tmp: Path, *, https: bool) -> Iterator[Site]:
    data = tmp / "data"
    r = cli(data, "user", "add", "adm", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    env = {"SHEGONG_DATA_DIR": str(data), "SHEGONG_AUTH": "on", "SHEGONG_HTTPS": "true" if https else "false"}
    with shegong_server(env) as url:
        tok = httpx.post(url + "/api/auth/login", json={"username": "adm", "password": PASSWORD}, timeout=60)
        assert tok.status_code == 200, tok.text
        yield Site(url, tok.json()["token"])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from _start(tmp_path_factory.mktemp("sec-http"), https=False)


@pytest.fixture(scope="module")
def https_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A server told it sits behind an HTTPS proxy (SHEGONG_HTTPS=true); the tests talk plain HTTP to it."""
    yield from _start(tmp_path_factory.mktemp("sec-https"), https=True)


def sign_in(url: str, *, https: bool = False) -> httpx.Response:
    """The sign-in form, as the browser posts it (from https://… when the page came through the
    HTTPS proxy); its 303 carries the session cookie."""
    origin = url.replace("http://", "https://") if https else url
    r = httpx.post(url + "/login", data={"username": "adm", "password": PASSWORD, "next": "/ui/"},
                   headers={"Origin": origin}, timeout=60)
    assert r.status_code == 303 and SESSION_COOKIE in r.cookies, r.text
    return r


def policy(resp: httpx.Response) -> dict[str, list[str]]:
    csp = resp.headers["content-security-policy"]
    return {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}


def sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def assert_hardened(resp: httpx.Response, *, hsts: bool) -> dict[str, list[str]]:
    where = f"{resp.request.method} {resp.request.url.path} ({resp.status_code})"
    assert resp.headers.get("x-content-type-options") == "nosniff", where
    assert resp.headers.get("x-frame-options") == "DENY", where
    assert resp.headers.get("referrer-policy") == "same-origin", where
    assert ("strict-transport-security" in resp.headers) is hsts, where
    if hsts:
        assert re.fullmatch(r"max-age=\d{7,}", resp.headers["strict-transport-security"]), where
    p = policy(resp)
    for directive, sources in {"default-src": ["'self'"], "frame-ancestors": ["'none'"], "object-src": ["'none'"],
                               "base-uri": ["'self'"], "form-action": ["'self'"], "worker-src": ["'self'"],
                               "manifest-src": ["'self'"]}.items():
        assert p.get(directive) == sources, (where, directive, p.get(directive))
    # no remote origin, no scheme source (data:, blob:, https:): every source is a quoted keyword or hash
    loose = [s for sources in p.values() for s in sources if not re.fullmatch(r"'[^']+'", s)]
    assert loose == [], (where, loose)
    assert "'unsafe-eval'" not in p["script-src"] and "'unsafe-inline'" not in p["script-src"], where
    return p


class TestHeaders:
    def test_on_the_api_ui_pages_and_static_files(self, site: Site) -> None:
        cookies = {SESSION_COOKIE: sign_in(site.url).cookies[SESSION_COOKIE]}
        ui = httpx.get(site.url + "/ui/", cookies=cookies, timeout=60)
        assert ui.status_code == 200 and "text/html" in ui.headers["content-type"]
        asset = re.search(r'src="\./(assets/[^"]+\.js)"', ui.text)
        assert asset, ui.text[:500]
        for path in ("/api/health", "/api/me", "/api/nothing-here", "/login", "/visits", "/visits/app.js",
                     "/visits/sw.js", "/visits/app.css", "/ui/" + asset.group(1), "/ui/gradio_api/info", "/"):
            for with_cookie in (False, True):
                r = httpx.get(site.url + path, cookies=cookies if with_cookie else None, timeout=60)
                assert_hardened(r, hsts=False)
        assert_hardened(ui, hsts=False)

    def test_gradio_gets_only_its_listed_relaxations(self, site: Site) -> None:
        cookies = {SESSION_COOKIE: sign_in(site.url).cookies[SESSION_COOKIE]}
        ui = httpx.get(site.url + "/ui/", cookies=cookies, timeout=60)
        p = assert_hardened(ui, hsts=False)
        assert "'unsafe-inline'" in p["style-src"]  # the one relaxation, listed with its reason
        assert [(d, s) for d, s, why in GRADIO_RELAXATIONS if why] == [("style-src", "'unsafe-inline'")]
        # Gradio's inline scripts (its config, its loader) are allowed by hash, each of them, and no other
        scripts, _ = inline_hashes(ui.text)
        assert len(scripts) >= 3 and sorted(h for h in p["script-src"] if h.startswith("'sha256-")) == sorted(set(scripts))
        # The visit page and its script keep the bare policy: no inline anything.
        for path in ("/visits", "/visits/app.js"):
            p = policy(httpx.get(site.url + path, cookies=cookies, timeout=60))
            assert p["style-src"] == ["'self'"] and p["script-src"] == ["'self'"], (path, p)

    def test_sign_in_page_style_goes_by_its_hash(self, site: Site) -> None:
        r = httpx.get(site.url + "/login", timeout=60)
        style = re.search(r"<style>(.*?)</style>", r.text, re.DOTALL)
        assert style
        assert policy(r)["style-src"] == ["'self'", sha256(style.group(1))]

    def test_hsts_only_behind_https(self, site: Site, https_site: Site) -> None:
        for path in ("/api/health", "/login", "/visits/app.js", "/api/nothing-here"):
            assert_hardened(httpx.get(https_site.url + path, timeout=60), hsts=True)
            assert_hardened(httpx.get(site.url + path, timeout=60), hsts=False)


class TestSessionCookie:
    @staticmethod
    def flags(resp: httpx.Response) -> set[str]:
        cookie = next(c for c in resp.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE + "="))
        return {part.strip().lower() for part in cookie.split(";")[1:]}

    def test_httponly_lax_and_secure_only_with_https(self, site: Site, https_site: Site) -> None:
        plain = self.flags(sign_in(site.url))
        assert {"httponly", "samesite=lax", "path=/"} <= plain and "secure" not in plain
        behind_https = self.flags(sign_in(https_site.url, https=True))
        assert {"httponly", "samesite=lax", "secure"} <= behind_https


class TestCSRF:
    @staticmethod
    def add_user(site: Site, name: str, headers: dict[str, str], cookie: str | None) -> httpx.Response:
        return httpx.post(site.url + "/api/users", json={"username": name, "password": PASSWORD, "role": "worker"},
                          headers=headers, cookies={SESSION_COOKIE: cookie} if cookie else None, timeout=60)

    def usernames(self, site: Site) -> set[str]:
        r = httpx.get(site.url + "/api/users", headers=site.bearer, timeout=60)
        return {u["username"] for u in r.json()["users"]}

    def test_cookie_post_needs_this_sites_origin(self, site: Site) -> None:
        cookie = sign_in(site.url).cookies[SESSION_COOKIE]
        r = self.add_user(site, "csrf-none", {}, cookie)
        assert r.status_code == 403 and r.json()["code"] == "csrf_origin_missing", r.text
        assert "Origin" in r.json()["detail"] and "Referer" in r.json()["detail"] and "已拒绝" in r.json()["detail"]
        assert_hardened(r, hsts=False)
        for origin in ("http://evil.example", "null", site.url.replace("127.0.0.1", "localhost")):
            r = self.add_user(site, "csrf-evil", {"Origin": origin}, cookie)
            assert r.status_code == 403 and r.json()["code"] == "csrf_origin_mismatch", (origin, r.text)
            assert origin in r.json()["detail"] and "跨站请求伪造" in r.json()["detail"]
        r = self.add_user(site, "csrf-evil", {"Referer": "http://evil.example/page"}, cookie)
        assert r.status_code == 403 and r.json()["code"] == "csrf_origin_mismatch"
        # the same change from this site's own page goes through: Origin, or Referer when there is none
        assert self.add_user(site, "csrf-origin", {"Origin": site.url}, cookie).status_code == 200
        assert self.add_user(site, "csrf-referer", {"Referer": site.url + "/ui/"}, cookie).status_code == 200
        names = self.usernames(site)
        assert {"csrf-origin", "csrf-referer"} <= names and not {"csrf-none", "csrf-evil"} & names
        # reading is not a change: a GET with the cookie needs no proof
        assert httpx.get(site.url + "/api/me", cookies={SESSION_COOKIE: cookie}, timeout=60).status_code == 200

    def test_bearer_calls_are_not_affected(self, site: Site) -> None:
        assert self.add_user(site, "bearer-plain", site.bearer, None).status_code == 200
        assert self.add_user(site, "bearer-elsewhere", {**site.bearer, "Origin": "http://evil.example"},
                             None).status_code == 200
        assert {"bearer-plain", "bearer-elsewhere"} <= self.usernames(site)

    def test_without_cookie_only_a_foreign_origin_is_refused(self, site: Site) -> None:
        """Programs send no Origin and pass; a hostile page's sign-in or trial-mode post names its origin."""
        body = {"username": "adm", "password": PASSWORD}
        assert httpx.post(site.url + "/api/auth/login", json=body, timeout=60).status_code == 200
        r = httpx.post(site.url + "/api/auth/login", json=body, headers={"Origin": "http://evil.example"}, timeout=60)
        assert r.status_code == 403 and r.json()["code"] == "csrf_origin_mismatch"
        r = httpx.post(site.url + "/login", data={**body, "next": "/ui/"}, headers={"Origin": "http://evil.example"},
                       timeout=60)
        assert r.status_code == 403 and SESSION_COOKIE not in r.cookies

    def test_behind_https_the_origin_must_be_https(self, https_site: Site) -> None:
        cookie = sign_in(https_site.url, https=True).cookies[SESSION_COOKIE]
        secure = https_site.url.replace("http://", "https://")
        r = self.add_user(https_site, "tls-plain", {"Origin": https_site.url}, cookie)
        assert r.status_code == 403 and r.json()["code"] == "csrf_origin_mismatch" and "HTTPS" in r.json()["detail"]
        assert self.add_user(https_site, "tls-ok", {"Origin": secure}, cookie).status_code == 200


def test_policy_building_blocks() -> None:
    """The pieces on their own: hashes of inline blocks, where hashes go, the refusal's reasons."""
    page = '<script>window.a = 1;</script><script src="x.js"></script><style>b{}</style><SCRIPT type="module">c()</SCRIPT>'
    assert inline_hashes(page) == ([sha256("window.a = 1;"), sha256("c()")], [sha256("b{}")])
    relaxed = content_security_policy(relaxed=True, script_hashes=["'sha256-x'"], style_hashes=["'sha256-y'"])
    assert "script-src 'self' 'sha256-x'" in relaxed and "'sha256-y'" not in relaxed  # a hash would void 'unsafe-inline'
    assert "style-src 'self' 'sha256-y'" in content_security_policy(relaxed=False, style_hashes=["'sha256-y'"])

    def scope(*headers: tuple[str, str]) -> dict[str, object]:
        return {"type": "http", "method": "POST", "scheme": "http",
                "headers": [(k.encode(), v.encode()) for k, v in (("host", "10.0.0.5:8000"), *headers)]}

    cookie = ("cookie", f"{SESSION_COOKIE}=sg_x")
    assert csrf_problem(scope(cookie), https=False)[0] == "csrf_origin_missing"  # type: ignore[index]
    assert csrf_problem(scope(cookie, ("origin", "http://10.0.0.5:8000")), https=False) is None
    assert csrf_problem(scope(cookie, ("origin", "https://10.0.0.5:8000")), https=False) is None
    assert csrf_problem(scope(cookie, ("origin", "http://10.0.0.5:8000")), https=True) is not None
    assert csrf_problem(scope(cookie, ("authorization", "Bearer sg_t"), ("origin", "http://x")), https=False) is None
    assert csrf_problem(scope(), https=False) is None
    assert csrf_problem(scope(("origin", "http://x")), https=False)[0] == "csrf_origin_mismatch"  # type: ignore[index]
