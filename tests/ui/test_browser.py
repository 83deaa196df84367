"""The web UI in a real headless Chromium (Debian's, driven by Playwright) against a real server.

Screenshots go to ``test-output/screenshots/``; the first load's size goes to
``test-output/browser.json`` and is printed.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.settings import Settings
from tests.support import PASSWORD, ROOT, cli, require, shegong_server

CHROMIUM = Path(os.environ.get("SHEGONG_CHROMIUM", "/usr/bin/chromium"))
OUT = ROOT / "test-output"
SHOTS = OUT / "screenshots"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
# Chromium must not phone home: this machine has no internet, and neither may a worker's data.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic", "--disable-default-apps"]


def _require_chromium() -> Path:
    return require(CHROMIUM, "`make setup-browser` installs Debian's chromium and fonts-noto-cjk")


@pytest.fixture(scope="module")
def ui_server(kb_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data = tmp_path_factory.mktemp("ui") / "data"
    shutil.copytree(kb_settings.data_dir, data)
    for name, role in (("wang", "worker"), ("li", "trainer")):
        r = cli(data, "user", "add", name, "--role", role, "--password-stdin", stdin=PASSWORD + "\n")
        assert r.returncode == 0, r.stderr
    with shegong_server({"SHEGONG_DATA_DIR": str(data), "SHEGONG_AUTH": "on"}) as url:
        yield url, data


# Reports each content-security-policy violation of a page to the test (installed before any of the
# page's own scripts run, so a blocked inline script or style of the first paint is caught too).
_CSP_WATCH = """document.addEventListener('securitypolicyviolation', (e) => window.__sgCspViolation(
    `${location.pathname}: ${e.effectiveDirective} blocked ${e.blockedURI || 'inline'}`
    + ` (${e.sourceFile || 'page'}:${e.lineNumber})`));"""


class CheckedBrowser:
    """The tests' Chromium, whose every context collects CSP violations: the page's
    ``securitypolicyviolation`` events and Chromium's console errors naming the policy.
    ``tests/ui/conftest.py`` fails a test that left any."""

    def __init__(self, browser: Any) -> None:
        self._browser = browser
        self.violations: list[str] = []

    def new_context(self, **kw: Any) -> Any:
        ctx = self._browser.new_context(**kw)
        ctx.expose_binding("__sgCspViolation", lambda _source, what: self.violations.append(str(what)))
        ctx.add_init_script(_CSP_WATCH)
        ctx.on("console", lambda m: self.violations.append("console: " + m.text)
               if "Content Security Policy" in m.text else None)
        return ctx

    def take(self) -> list[str]:
        found, self.violations = self.violations, []
        return found


@pytest.fixture(scope="module")
def browser() -> Iterator[CheckedBrowser]:
    from playwright.sync_api import sync_playwright

    path = _require_chromium()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(path), args=CHROMIUM_ARGS)
        yield CheckedBrowser(b)
        b.close()


class PageLog:
    """Every request a page makes, to check that nothing leaves this server."""

    def __init__(self, page: Any, base: str) -> None:
        self.base = base
        self.urls: list[str] = []
        page.on("request", lambda r: self.urls.append(r.url))

    def external(self) -> list[str]:
        return [u for u in self.urls if not u.startswith((self.base, "data:", "blob:"))]


def _login(page: Any, url: str, user: str) -> None:
    page.goto(url + "/ui/")
    page.wait_for_url("**/login**")
    assert "登录" in page.title()
    page.fill("#u", user)
    page.fill("#p", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#sg-question textarea", timeout=60_000)
    page.wait_for_selector(f"text={user}", timeout=30_000)


@pytest.mark.integration
@pytest.mark.slow
class TestWorkerOnAPhone:
    def test_ask_see_sources_refusal_and_feedback(self, ui_server: tuple[str, Path], browser: Any) -> None:
        url, _ = ui_server
        ctx = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                  locale="zh-CN")
        page = ctx.new_page()
        log = PageLog(page, url)
        _login(page, url, "wang")
        page.wait_for_load_state("load")
        page.wait_for_timeout(1500)
        # the browser's own account of the /ui/ page load (resource timing, same origin)
        sizes = page.evaluate("""() => {
            const es = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')];
            return {transfer: es.reduce((a, e) => a + (e.transferSize || 0), 0),
                    decoded: es.reduce((a, e) => a + (e.decodedBodySize || 0), 0), resources: es.length};
        }""")
        first_load = {"transfer_bytes": sizes["transfer"], "decoded_bytes": sizes["decoded"],
                      "resources": sizes["resources"], "external": log.external()}
        OUT.mkdir(exist_ok=True)
        (OUT / "browser.json").write_text(json.dumps({"first_load": first_load}, ensure_ascii=False, indent=1))
        print(f"\nfirst load of /ui/ at 375x812: {sizes['transfer'] / 1024:.0f} KiB over the wire, "
              f"{sizes['decoded'] / 1024:.0f} KiB decoded, {sizes['resources']} resources")
        assert sizes["transfer"] > 0 and sizes["resources"] > 1
        assert first_load["external"] == [], "the UI must load nothing from outside this server"
        page.screenshot(path=str(SHOTS / "01-phone-empty.png"))
        # Workers do not see the trainers' tabs.
        assert page.get_by_role("tab", name="知识库").count() == 0

        page.fill("#sg-question textarea", "宜川路街道考取中级社工证的社区工作者奖励多少？")
        page.click("#sg-send")
        page.wait_for_selector("#sg-chat summary", timeout=60_000)
        bot = page.locator("#sg-chat").inner_text()
        assert "2000元" in bot and "来源" in bot
        page.locator("#sg-chat summary").first.click()
        page.wait_for_timeout(300)
        passage = page.locator("#sg-chat details[open]").first.inner_text()
        assert "2000" in passage  # the cited passage opens under its title
        page.screenshot(path=str(SHOTS / "02-phone-answer-with-source.png"), full_page=True)

        page.fill("#sg-question textarea", "北京市养犬登记费是多少钱？")
        page.click("#sg-send")
        page.wait_for_selector("text=知识库中没有找到", timeout=60_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(SHOTS / "03-phone-refusal.png"), full_page=True)

        # 👎 on the refusal, with a comment: it reaches the trainers' review queue.
        page.locator("#sg-chat").locator("button[aria-label='踩'], button[aria-label='Dislike']").last.click()
        page.wait_for_selector("text=可以在下面写几句原因", timeout=30_000)
        page.get_by_label("👎 的原因（可选）").fill("希望补充养犬政策")
        page.get_by_role("button", name="提交意见").click()
        page.wait_for_selector("text=已收到您的意见", timeout=30_000)

        # 新对话 clears the screen; the earlier conversation is listed to return to.
        page.click("#sg-new")
        page.wait_for_timeout(500)
        assert "2000元" not in page.locator("#sg-chat").inner_text()
        page.get_by_text("设置与以前的对话").click()
        page.locator("#sg-history input").click()
        page.get_by_role("option", name="宜川路街道考取中级社工证").first.click()
        # a function, not an expression string: Playwright would eval() that in the page, which the CSP forbids
        page.wait_for_function("() => document.querySelector('#sg-chat').innerText.includes('2000元')",
                               timeout=30_000)
        page.screenshot(path=str(SHOTS / "04-phone-earlier-conversation.png"))
        ctx.close()

        token = httpx.post(url + "/api/auth/login", json={"username": "li", "password": PASSWORD}).json()["token"]
        items = httpx.get(url + "/api/review", headers={"Authorization": f"Bearer {token}"}).json()["items"]
        assert any(i["comment"] == "希望补充养犬政策" for i in items)


@pytest.mark.integration
@pytest.mark.slow
class TestTrainerAtADesk:
    def test_documents_and_review_tabs(self, ui_server: tuple[str, Path], browser: Any) -> None:
        url, _ = ui_server
        ctx = browser.new_context(viewport=DESKTOP, locale="zh-CN")
        page = ctx.new_page()
        _login(page, url, "li")
        page.get_by_role("tab", name="知识库").click()
        page.locator("text=cases/angry-rejected-application >> visible=true").first.wait_for(timeout=60_000)
        page.screenshot(path=str(SHOTS / "05-desktop-trainer-documents.png"), full_page=True)
        page.get_by_role("tab", name="待改进").click()
        page.locator("text=北京市养犬登记费 >> visible=true").first.wait_for(timeout=60_000)
        page.screenshot(path=str(SHOTS / "06-desktop-trainer-review.png"), full_page=True)
        ctx.close()

    def test_signed_out_visit_goes_to_login(self, ui_server: tuple[str, Path], browser: Any) -> None:
        url, _ = ui_server
        ctx = browser.new_context(viewport=PHONE, locale="zh-CN")
        page = ctx.new_page()
        page.goto(url + "/ui/")
        assert "/login" in page.url
        page.fill("#u", "wang")
        page.fill("#p", "wrong-password")
        page.click("button[type=submit]")
        page.wait_for_selector("text=用户名或密码错误", timeout=30_000)
        page.screenshot(path=str(SHOTS / "07-phone-login-error.png"))
        ctx.close()

    def test_the_api_docs_render_from_this_server(self, ui_server: tuple[str, Path], browser: Any) -> None:
        url, _ = ui_server
        ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        page = ctx.new_page()
        log = PageLog(page, url)
        page.goto(url + "/api/docs")
        page.wait_for_selector(".opblock", timeout=60_000)  # Swagger UI read /api/openapi.json and drew it
        assert "/api/chat" in page.inner_text("body") and "/api/search" in page.inner_text("body")
        page.screenshot(path=str(SHOTS / "08-desktop-api-docs.png"))
        assert not log.external(), log.external()
        ctx.close()


def test_passages_show_list_items_on_their_own_lines() -> None:
    from app.ui.render import readable, render_answer

    assert readable("- 亮证。- 说明来意：“我是居委会的。”- 告诉老人：不收钱。") == \
        "- 亮证。\n- 说明来意：“我是居委会的。”\n- 告诉老人：不收钱。"
    shown = render_answer({"answer": "看<b>燃气</b>[1]", "refused": False, "mode": "extractive", "citations": [
        {"n": 1, "title": "走访清单", "issuer": "编写组", "region": "上海市", "published": "2026-11-25",
         "heading": "安全", "text": "- 燃气软管。- 插线板。"}]})
    assert "&lt;b&gt;" in shown and "<details><summary>[1] 走访清单" in shown and "- 燃气软管。\n- 插线板。" in shown
    refused = render_answer({"answer": "知识库中没有找到能回答这个问题的内容。", "refused": True})
    assert refused.startswith("### 🔍 知识库中没有找到") and "<details>" not in refused
