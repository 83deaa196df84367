"""The visit page in a real headless Chromium at 375x812 against a real server: a worker opens
the plan, a household and its brief with cited sources, dictates a note, confirms the drafted
record while the browser is offline, reloads, and the record is sent once the signal is back; the
follow-up is in the 台账; the region's supervisor sees the urgent record first and closes it.
Screenshots go to ``test-output/screenshots/visits-*.png``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.core.settings import Settings
from tests.support import PASSWORD, Signal, cli, shegong_server
from tests.ui.test_browser import PHONE, SHOTS, PageLog, browser  # noqa: F401  (the browser fixture)

JUWEI = "晨光居委（虚构示例）"
NOTE = "嗯那个今天上午去了浏览器测试户 老人说前天晚上在卫生间摔了一跤 腰很疼起不来床 明天帮她联系社区医生上门"


@pytest.fixture(scope="module")
def visit_server(kb_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    data = tmp_path_factory.mktemp("visit-ui") / "data"
    shutil.copytree(kb_settings.data_dir, data)
    for name, role in (("wang", "worker"), ("zhan", "supervisor")):
        r = cli(data, "user", "add", name, "--role", role, "--region", "宜川路街道", "--password-stdin",
                stdin=PASSWORD + "\n")
        assert r.returncode == 0, r.stderr
    with shegong_server({"SHEGONG_DATA_DIR": str(data), "SHEGONG_AUTH": "on", "SHEGONG_VISIT_DEMO": "on"}) as url:
        tok = httpx.post(url + "/api/auth/login", json={"username": "zhan", "password": PASSWORD}, timeout=60).json()["token"]
        r = httpx.post(url + "/api/households", headers={"Authorization": f"Bearer {tok}"}, timeout=60, json={
            "juwei": JUWEI, "xiaoqu": "浏览器测试小区（虚构）", "building": "7", "room": "702", "worker": "wang",
            "tags": ["独居老人", "高龄"], "members": [{"name": "浏览器测试户", "relation": "本人", "birth_year": 1936,
                                                  "phone": "13900007702"}]})
        assert r.status_code == 200, r.text
        yield url, r.json()["id"]


def _login(page: Any, url: str, user: str) -> None:
    page.goto(url + "/visits")
    page.wait_for_url("**/login**")
    page.fill("#u", user)
    page.fill("#p", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/visits**")


def _visits_of(url: str, hid: int) -> list[dict[str, Any]]:
    tok = httpx.post(url + "/api/auth/login", json={"username": "zhan", "password": PASSWORD}, timeout=60).json()["token"]
    return httpx.get(f"{url}/api/households/{hid}/visits", headers={"Authorization": f"Bearer {tok}"},
                     timeout=60).json()["items"]


@pytest.mark.integration
@pytest.mark.slow
def test_a_workers_visit_from_plan_to_closed_followup(visit_server: tuple[str, int], browser: Any) -> None:  # noqa: F811
    url, hid = visit_server
    signal = Signal(url)  # the worker's phone reaches the server through a line the test can drop
    try:
        _plan_to_followup(signal, url, hid, browser)
    finally:
        signal.close()


def _plan_to_followup(signal: Signal, server: str, hid: int, browser: Any) -> None:  # noqa: F811
    url = signal.url
    ctx = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN")
    page = ctx.new_page()
    log = PageLog(page, url)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _login(page, url, "wang")
    item = page.locator(f'a[data-household="{hid}"]')
    try:
        item.wait_for(timeout=60_000)
    except Exception:
        page.screenshot(path=str(SHOTS / "visits-0-plan-failed.png"), full_page=True)
        raise AssertionError(f"the plan did not show the household: {page.inner_text('body')[:800]} {errors}") from None
    assert "独居老人" in item.inner_text() and "尚无入户走访记录" in item.inner_text()
    page.screenshot(path=str(SHOTS / "visits-1-plan.png"), full_page=True)

    item.click()
    page.wait_for_selector("#policies", timeout=60_000)
    policies = page.locator("#policies").inner_text()
    assert "可了解是否符合" in policies and "[1]" in policies, policies
    assert "139****7702" in page.inner_text("main")
    page.screenshot(path=str(SHOTS / "visits-2-brief.png"), full_page=True)

    page.click("text=写走访记录")
    page.fill("#note", NOTE)
    page.click("#make-draft")
    page.wait_for_selector("#record", timeout=60_000)
    assert page.locator("select[name=risk]").input_value() == "紧急"
    assert "摔倒" in page.inner_text("#record")
    due = page.locator(".fu-due").first.input_value()
    assert due, "the follow-up's deadline was resolved"
    page.screenshot(path=str(SHOTS / "visits-3-draft.png"), full_page=True)

    page.evaluate("navigator.serviceWorker.ready.then(() => true)")  # the page is cached for offline use
    # No signal: the browser's offline mode, and the line itself dropped, since Chromium's offline
    # emulation (and request routing) does not hold for a page a service worker controls
    # (microsoft/playwright#2311); a phone without a signal sends nothing either way.
    signal.cut()
    ctx.set_offline(True)
    page.click("#confirm")
    page.wait_for_selector("#queued", timeout=30_000)
    page.reload()  # no signal: the page comes from the service worker, the record from the phone's storage
    page.wait_for_selector("#outbox:not([hidden])", timeout=30_000)
    assert "1 条走访记录待发送" in page.inner_text("#outbox")
    page.screenshot(path=str(SHOTS / "visits-4-offline-outbox.png"), full_page=True)
    assert _visits_of(server, hid) == []  # nothing reached the server yet

    signal.restore()
    ctx.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    page.wait_for_selector("#outbox[hidden]", state="attached", timeout=60_000)
    saved = _visits_of(server, hid)
    assert len(saved) == 1 and saved[0]["risk"] == "紧急"
    page.goto(url + "/visits#followups")
    page.wait_for_selector("[data-followup]", timeout=30_000)
    assert "联系社区医生" in page.inner_text("main")
    page.screenshot(path=str(SHOTS / "visits-5-ledger.png"), full_page=True)
    assert not log.external(), log.external()
    assert not errors, errors
    ctx.close()

    sup = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN")
    spage = sup.new_page()
    _login(spage, url, "zhan")
    spage.wait_for_selector("text=紧急记录", timeout=60_000)
    first = spage.locator("a.card.urgent").first
    assert "浏览器测试小区" in first.inner_text()
    spage.screenshot(path=str(SHOTS / "visits-6-supervisor.png"), full_page=True)
    spage.goto(url + "/visits#followups")
    spage.locator("[data-followup]").first.wait_for(timeout=30_000)
    card = spage.locator("[data-followup]", has_text="联系社区医生")  # the demo roster has its own urgent item
    assert card.count() == 1 and "紧急" in card.inner_text()
    card.locator(".close-note").fill("已联系家庭医生，下午上门查看")
    card.locator("button.close").click()
    spage.wait_for_selector("text=已关闭", timeout=30_000)
    spage.screenshot(path=str(SHOTS / "visits-7-closed.png"), full_page=True)
    assert _visits_of(server, hid)[0]["acknowledged"]
    sup.close()



@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("viewport", [PHONE, {"width": 1280, "height": 900}], ids=["phone", "desk"])
def test_the_supervisors_dashboard_opens_the_list_behind_a_figure(visit_server: tuple[str, int], browser: Any,  # noqa: F811
                                                                  viewport: dict[str, int]) -> None:
    url, _ = visit_server
    ctx = browser.new_context(viewport=viewport, locale="zh-CN")
    page = ctx.new_page()
    log = PageLog(page, url)
    _login(page, url, "zhan")
    page.goto(url + "/visits#board")
    page.wait_for_selector("[data-figure]", timeout=60_000)
    assert "本月走访覆盖" in page.inner_text("main") and "知识库使用" in page.inner_text("main")
    page.click('[data-figure="overdue"]')
    page.wait_for_selector("#behind a.card", timeout=30_000)
    assert "逾期未访的户" in page.inner_text("#behind")
    page.screenshot(path=str(SHOTS / f"visits-8-board-{viewport['width']}.png"), full_page=True)
    page.fill("#ask-q", "这个月高龄老人里还没入户见到的有哪些")
    page.click("#ask-go")
    page.wait_for_selector("#ask-answer", timeout=30_000)
    assert page.inner_text("#ask-reading") == "按：本月 · 高龄 · 未入户走访的户"
    assert page.locator("#ask-items a.card").count() > 0 and "虚构示例" in page.inner_text("#ask-items")
    assert "null" not in page.inner_text("#ask-out")
    page.click("#ask details summary")
    page.screenshot(path=str(SHOTS / f"visits-11-ask-{viewport['width']}.png"), full_page=True)
    page.fill("#ask-q", "明年会多几户高龄老人")
    page.click("#ask-go")
    page.wait_for_selector("#ask-out .err", timeout=30_000)
    assert "不做预测" in page.inner_text("#ask-out") and page.locator("#ask-out button.chip").count() > 0
    assert not log.external(), log.external()
    ctx.close()


@pytest.mark.integration
@pytest.mark.slow
def test_a_monthly_report_is_drafted_edited_and_downloaded_as_word(visit_server: tuple[str, int],
                                                                   browser: Any) -> None:  # noqa: F811
    import io

    import docx

    url, _ = visit_server
    ctx = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN",
                              accept_downloads=True)
    page = ctx.new_page()
    log = PageLog(page, url)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _login(page, url, "zhan")
    page.goto(url + "/visits#board")
    page.click("#board-report", timeout=60_000)
    page.click("#make-report")
    page.wait_for_selector("#draft-text", timeout=60_000)
    text = page.locator("#draft-text").input_value()
    assert "走访情况报告" in text.split("\n")[0] and "一、总体情况" in text and "覆盖率" in text
    assert "虚构" in page.inner_text("#draft")  # the demo roster says what it is
    page.click("#draft-facts summary")
    assert "看板" in page.inner_text("#draft-facts")
    page.screenshot(path=str(SHOTS / "visits-9-report-draft.png"), full_page=True)
    page.locator("#draft-text").fill(text.replace("（请补充。）", "下月重点走访独居老人。", 1))
    with page.expect_download(timeout=60_000) as dl:
        page.click("#draft-docx")
    path = dl.value.path()
    assert dl.value.suggested_filename.endswith(".docx")
    with open(path, "rb") as f:
        paras = [p.text for p in docx.Document(io.BytesIO(f.read())).paragraphs]
    assert paras[0] == text.split("\n")[0] and "下月重点走访独居老人。" in paras and "一、总体情况" in paras
    page.wait_for_selector("#draft-status:has-text('已下载')", timeout=30_000)
    page.click("#nav-write")
    # the report view has a notice card too: wait for the #write view itself, not the one it replaces
    page.wait_for_selector("#view[data-route='#write'] #notice-template", timeout=30_000)
    page.select_option("#notice-template", "water_power")
    for name, value in (("juwei", "晨光居委会（虚构示例）"), ("what", "停水"), ("time", "12月5日8:00至16:00"),
                        ("area", "晨光一村1号楼"), ("reason", "管道检修"), ("phone", "021-0000 0000")):
        page.fill(f"#notice-fields input[name={name}]", value)
    page.click("#make-notice")
    page.wait_for_selector("#draft-text", timeout=30_000)
    assert page.locator("#draft-text").input_value().startswith("停水通知")
    page.screenshot(path=str(SHOTS / "visits-10-notice.png"), full_page=True)
    assert not log.external(), log.external()
    assert not errors, errors
    ctx.close()
