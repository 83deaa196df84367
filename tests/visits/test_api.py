"""The visit module over HTTP on a real server with auth on, over the default knowledge base and
the seeds: every new route against every role and scope, the worker's day from plan to a closed
follow-up, and hostile imports."""

from __future__ import annotations

import csv
import io
import shutil
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import openpyxl
import pytest

from app.core.settings import Settings
from tests.support import PASSWORD, cli, shegong_server

JUWEI = "晨光居委（虚构示例）"  # the demo 居委, under 宜川路街道
# name -> (role, region, extra CLI options)
ACCOUNTS = {
    "w1": ("worker", "宜川路街道", []),
    "w2": ("worker", "宜川路街道", []),
    "sup": ("supervisor", "宜川路街道", []),
    "sup_other": ("supervisor", "长寿路街道", []),
    "trainer": ("trainer", "", []),
    "evaluator": ("evaluator", "", []),
    "trainer_sup": ("trainer", "", ["--supervises", "宜川路街道"]),
    "admin": ("admin", "", []),
}


@dataclass
class Svc:
    url: str
    tokens: dict[str, str]
    own: int  # a household of w1
    member: int  # its member's id

    def call(self, who: str | None, method: str, path: str, **kw: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.request(method, self.url + path, headers=headers, timeout=120, **kw)  # type: ignore[arg-type]


def _csv(rows: list[list[str]], encoding: str = "utf-8-sig") -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode(encoding)


def _xlsx(rows: list[list[object]]) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)  # type: ignore[union-attr]
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


HEADER = ["居委", "小区", "楼号", "室", "姓名", "与户主关系", "联系电话", "标签", "负责社工"]


@pytest.fixture(scope="module")
def svc(kb_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Svc]:
    data = tmp_path_factory.mktemp("visits") / "data"
    shutil.copytree(kb_settings.data_dir, data)
    for name, (role, region, extra) in ACCOUNTS.items():
        opts = ["--region", region] if region else []
        r = cli(data, "user", "add", name, "--role", role, *opts, *extra, "--password-stdin", stdin=PASSWORD + "\n")
        assert r.returncode == 0, r.stderr
    env = {"SHEGONG_DATA_DIR": str(data), "SHEGONG_AUTH": "on", "SHEGONG_VISIT_DEMO": "on",
           "SHEGONG_VISIT_IMPORT_MAX_ROWS": "300", "SHEGONG_RATE_CHAT_PER_MIN": "1000"}
    with shegong_server(env) as url:
        tokens = {}
        for name in ACCOUNTS:
            r = httpx.post(url + "/api/auth/login", json={"username": name, "password": PASSWORD}, timeout=60)
            assert r.status_code == 200, r.text
            tokens[name] = r.json()["token"]
        s = Svc(url, tokens, 0, 0)
        r = s.call("sup", "POST", "/api/households", json={
            "juwei": JUWEI, "xiaoqu": "测试小区（虚构）", "building": "9", "room": "901", "worker": "w1",
            "tags": ["独居老人"], "notes": "=HYPERLINK(\"http://example.invalid\")",
            "members": [{"name": "测试甲", "relation": "本人", "birth_year": 1938, "phone": "13900009901"}]})
        assert r.status_code == 200, r.text
        s.own, s.member = r.json()["id"], r.json()["members"][0]["id"]
        yield s


ROLES = tuple(ACCOUNTS)
SEES_OWN = {"w1", "sup", "trainer_sup", "admin"}  # who sees w1's household
SUPERVISES = {"sup", "trainer_sup", "admin"}


def _routes(s: Svc) -> list[tuple[str, str, dict[str, object] | None, set[str], set[str]]]:
    """(method, path, body, who gets 200, who gets 404); everyone else gets 403."""
    h = s.own
    no_visit = {"trainer", "evaluator"}
    hidden = set(ROLES) - SEES_OWN - no_visit  # w2, sup_other
    return [
        ("GET", f"/api/households/{h}", None, SEES_OWN, hidden),
        ("GET", f"/api/households/{h}/brief", None, SEES_OWN, hidden),
        ("GET", f"/api/households/{h}/visits", None, SEES_OWN, hidden),
        ("GET", f"/api/households/{h}/timeline", None, SEES_OWN, hidden),
        ("GET", f"/api/households/{h}/members/{s.member}/phone", None, SEES_OWN, hidden),
        ("POST", f"/api/households/{h}/capture", {"note": "电话问候 挺好的"}, SEES_OWN, hidden),
        ("POST", f"/api/households/{h}/status", {"status": "在住"}, SEES_OWN, hidden),
        ("PUT", f"/api/households/{h}", {"juwei": JUWEI, "xiaoqu": "测试小区（虚构）", "building": "9", "room": "901",
                                         "worker": "w1", "tags": ["独居老人"], "members": [
                                             {"name": "测试甲", "phone": "13900009901"}]},
         SUPERVISES, {"sup_other"}),
        ("POST", f"/api/households/{h}/share", {"worker": "w1"}, SUPERVISES, {"sup_other"}),
        ("POST", "/api/households/assign", {"household_ids": [h], "worker": "w1"}, SUPERVISES, {"sup_other"}),
        ("GET", "/api/households", None, set(ROLES) - no_visit, set()),
        ("GET", "/api/plan", None, set(ROLES) - no_visit, set()),
        ("GET", "/api/followups", None, set(ROLES) - no_visit, set()),
        ("GET", "/api/visits/urgent", None, set(ROLES) - no_visit, set()),
        ("GET", "/api/visit-tags", None, set(ROLES) - no_visit, set()),
        ("GET", "/api/households/export.xlsx", None, SUPERVISES | {"sup_other"}, set()),
        ("GET", "/api/followups/export.xlsx", None, SUPERVISES | {"sup_other"}, set()),
        ("GET", "/api/access-log", None, {"admin"}, set()),
        ("POST", "/api/visits/999999/acknowledge", None, set(), SUPERVISES | {"sup_other"}),
        ("GET", "/api/visits/999999", None, set(), set(ROLES) - no_visit),
        ("POST", "/api/followups/999999/close", {"note": "x"}, set(), set(ROLES) - no_visit),
    ]


@pytest.mark.integration
@pytest.mark.slow
class TestScopeMatrix:
    def test_every_route_against_every_role_and_scope(self, svc: Svc) -> None:
        problems = []
        for method, path, body, ok, hidden in _routes(svc):
            if svc.call(None, method, path, json=body).status_code != 401:
                problems.append(f"anonymous {method} {path}")
            for who in ROLES:
                r = svc.call(who, method, path, json=body)
                want = 200 if who in ok else 404 if who in hidden else 403
                if r.status_code != want:
                    problems.append(f"{who} {method} {path}: {r.status_code} (want {want}) {r.text[:120]}")
                elif want != 200:
                    assert r.json()["detail"], r.text  # a Chinese reason, not an empty error
        assert not problems, "\n".join(problems)

    def test_a_visit_on_another_workers_household_is_404(self, svc: Svc) -> None:
        body = {"client_id": uuid.uuid4().hex, "household_id": svc.own, "visited_on": "2026-01-01"}
        assert svc.call("w2", "POST", "/api/visits", json=body).status_code == 404
        assert svc.call("sup_other", "POST", "/api/visits", json=body).status_code == 404
        assert svc.call("trainer", "POST", "/api/visits", json=body).status_code == 403

    def test_phone_masked_reveal_logged_by_id(self, svc: Svc) -> None:
        h = svc.call("w1", "GET", f"/api/households/{svc.own}").json()
        assert h["members"][0]["phone"] == "139****9901"
        assert svc.call("w1", "GET", f"/api/households/{svc.own}/members/{svc.member}/phone").json() == {
            "phone": "13900009901"}
        log = svc.call("admin", "GET", "/api/access-log?action=reveal").json()["entries"]
        assert log and log[0]["target"] == str(svc.own) and "13900009901" not in str(log)


@pytest.mark.integration
@pytest.mark.slow
class TestWorkersDay:
    def test_plan_brief_capture_record_followup_close(self, svc: Svc) -> None:
        plan = svc.call("w1", "GET", "/api/plan").json()
        assert svc.own in [x["household_id"] for x in plan["today"]]
        item = next(x for x in plan["today"] if x["household_id"] == svc.own)
        assert "独居老人" in item["reason"]
        brief = svc.call("w1", "GET", f"/api/households/{svc.own}/brief").json()
        assert brief["checklist"] and "紧急联系人是否能联系上" in brief["checklist"]
        assert brief["policies"], brief["policies_note"]
        for p in brief["policies"]:
            assert p["text"].startswith("可了解是否符合") and "以现行文件" in p["text"]
            assert p["citations"] and all(c["title"] for c in p["citations"])
        note = "今天去了测试甲家 嗯 老人说前天在卫生间摔了一跤 腰很疼 起不来床 明天帮她联系社区医生"
        draft = svc.call("w1", "POST", f"/api/households/{svc.own}/capture", json={"note": note}).json()
        assert draft["risk"] == "紧急" and "摔倒" in draft["risk_signs"] and draft["drafted_by"] == "offline"
        assert draft["followups"] and draft["followups"][0]["due_on"]
        cid = "test-" + uuid.uuid4().hex
        body = {"client_id": cid, "household_id": svc.own, "visited_on": draft["visited_on"],
                "method": draft["method"], "met": draft["met"], "risk": draft["risk"],
                "risk_signs": draft["risk_signs"], "needs": draft["needs"],
                "followups": [{"item": f["item"], "due_on": f["due_on"]} for f in draft["followups"]],
                "notes": draft["notes"], "checklist": draft["checklist"]}
        saved = svc.call("w1", "POST", "/api/visits", json=body).json()
        assert saved["created"] and saved["visit"]["risk"] == "紧急"
        numbers = [n["number"] for n in saved["emergency"]["numbers"]]
        assert numbers == ["110", "119", "120"]
        again = svc.call("w1", "POST", "/api/visits", json=body).json()  # the phone's outbox sends it again
        assert not again["created"] and again["visit"]["id"] == saved["visit"]["id"]
        urgent = svc.call("sup", "GET", "/api/visits/urgent").json()["items"]
        assert urgent[0]["id"] == saved["visit"]["id"]
        today = svc.call("sup", "GET", "/api/plan").json()["today"]
        urgent_first = [x for x in today if x["urgent"]]
        assert today[:len(urgent_first)] == urgent_first  # the demo roster has its own urgent household too
        assert svc.own in [x["household_id"] for x in urgent_first]
        items = svc.call("sup", "GET", "/api/followups").json()["items"]
        mine = [f for f in items if f["visit_id"] == saved["visit"]["id"]]
        assert mine and items[0]["risk"] == "紧急"
        r = svc.call("sup", "POST", f"/api/followups/{mine[0]['id']}/close", json={"note": "社区医生已上门"})
        assert r.status_code == 200 and r.json()["status"] == "closed"
        assert saved["visit"]["id"] not in [v["id"] for v in svc.call("sup", "GET", "/api/visits/urgent").json()["items"]]


@pytest.mark.integration
@pytest.mark.slow
class TestImportExport:
    def _import(self, svc: Svc, name: str, data: bytes, **form: str) -> httpx.Response:
        return svc.call("sup", "POST", "/api/households/import", files={"file": (name, data)}, data=form)

    def _count(self, svc: Svc) -> int:
        return int(svc.call("sup", "GET", "/api/households?limit=1").json()["total"])

    def test_preview_then_good_rows_then_reimport_updates(self, svc: Svc) -> None:
        rows = [HEADER,
                [JUWEI, "导入小区（虚构）", "3", "301", "导入甲", "本人", "13900003011", "独居、高龄", "w1"],
                [JUWEI, "导入小区（虚构）", "3", "301", "导入乙", "配偶", "", "", "w1"],
                [JUWEI, "导入小区（虚构）", "3", "302", "导入丙", "本人", "12345", "独居", ""],
                [JUWEI, "导入小区（虚构）", "3", "303", "导入丁", "本人", "", "外星人", ""],
                ["别处居委", "导入小区（虚构）", "3", "304", "导入戊", "本人", "", "", ""],
                [JUWEI, "导入小区（虚构）", "3", "305", "导入己", "本人", "", "", "没有这个人"]]
        data = _csv(rows, "gb18030")
        before = self._count(svc)
        p = self._import(svc, "roster.csv", data).json()
        assert p["good_households"] == 1 and p["bad_rows"] == 4 and not p.get("imported")
        reasons = " ".join(e for r in p["errors"] for e in r["errors"])
        for want in ("12345", "外星人", "别处居委", "没有这个人"):
            assert want in reasons
        assert self._count(svc) == before  # a preview writes nothing
        r = self._import(svc, "roster.csv", data, commit="true", mode="all").json()
        assert not r["imported"] and self._count(svc) == before  # all or nothing: nothing
        r = self._import(svc, "roster.csv", data, commit="true", mode="good").json()
        assert r["imported"] and r["created"] == 1 and self._count(svc) == before + 1
        rows[1][7] = "独居"  # an updated roster
        r = self._import(svc, "roster.csv", _csv(rows), commit="true", mode="good").json()
        assert r["created"] == 0 and r["updated"] == 1 and self._count(svc) == before + 1

    def test_xlsx_with_bom_csv_and_column_mapping(self, svc: Svc) -> None:
        x = _xlsx([["居委", "小区", "幢", "房间号", "居民姓名", "手机"],
                   [JUWEI, "表格小区（虚构）", 5, 502, "表格甲", 13900005021]])
        r = self._import(svc, "a.xlsx", x, commit="true").json()
        assert r["imported"] and r["created"] == 1, r
        odd = _csv([["所在居委", "小区", "楼", "室", "名字"], [JUWEI, "映射小区（虚构）", "1", "101", "映射甲"]])
        r = self._import(svc, "b.csv", odd)
        assert r.status_code == 422 and "居委" in r.json()["detail"] and "姓名" in r.json()["detail"]
        r = self._import(svc, "b.csv", odd, mapping='{"所在居委": "juwei", "名字": "name"}', commit="true").json()
        assert r["imported"] and r["created"] == 1

    def test_hostile_files_get_a_clear_error_and_change_nothing(self, svc: Svc) -> None:
        before = self._count(svc)
        too_many = _csv([HEADER] + [[JUWEI, "多", "1", str(i), f"人{i}", "", "", "", ""] for i in range(400)])
        bomb = io.BytesIO()
        with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("[Content_Types].xml", "<Types/>")
            z.writestr("xl/worksheets/sheet1.xml", "<a>" + "0" * (50 * 1024 * 1024) + "</a>")
        entity = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(_xlsx([["居委"], [JUWEI]]))) as src, \
                zipfile.ZipFile(entity, "w", zipfile.ZIP_DEFLATED) as dst:
            for item in src.infolist():
                body = src.read(item.filename)
                if item.filename == "xl/workbook.xml":
                    rest = body.split(b"?>", 1)[1] if body.startswith(b"<?xml") else body
                    body = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
                            + rest)
                dst.writestr(item, body)
        formulas = _csv([HEADER] + [[JUWEI, "公式", "1", str(i), lead + "1+1", "", "", "", ""]
                                    for i, lead in enumerate(["=", "+", "-", "@", "\t", "\r"])])
        cases = [("wrong.csv", _csv([["a", "b"], ["1", "2"]]), "找不到必需的列"),
                 ("many.csv", too_many, "300 行"),
                 ("bomb.xlsx", bomb.getvalue(), "压缩炸弹"),
                 ("entity.xlsx", entity.getvalue(), "XML 实体"),
                 ("old.xls", b"\xd0\xcf\x11\xe0" + b"\0" * 100, "另存为 .xlsx"),
                 ("wps.et", b"x", "另存为 .xlsx"),
                 ("fake.xlsx", b"not a zip", "不是有效的 .xlsx")]
        for name, data, want in cases:
            r = self._import(svc, name, data, commit="true")
            assert r.status_code == 422 and want in r.json()["detail"], (name, r.status_code, r.text[:200])
        r = self._import(svc, "formulas.csv", formulas, commit="true").json()
        assert r["bad_rows"] == 6 and r["created"] == 0 and all("公式" in e["errors"][0] for e in r["errors"])
        assert self._count(svc) == before

    def test_exports_are_masked_and_neutralise_formulas(self, svc: Svc) -> None:
        made = svc.call("sup", "POST", "/api/households", json={
            "juwei": JUWEI, "xiaoqu": "导出小区（虚构）", "building": "8", "room": "801", "tags": ["高龄"],
            "notes": "=HYPERLINK(\"http://example.invalid\")",
            "members": [{"name": "导出甲", "relation": "本人", "phone": "13900008801"}]})
        assert made.status_code == 200, made.text
        r = svc.call("sup", "GET", "/api/households/export.xlsx")
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxml")
        ws = openpyxl.load_workbook(io.BytesIO(r.content)).active
        rows = [[c.value for c in row] for row in ws.iter_rows()]  # type: ignore[union-attr]
        mine = [row for row in rows if row[1] == "导出小区（虚构）"]
        assert mine and mine[0][9] == "导**" and mine[0][12] == "139****8801"
        assert str(mine[0][8]).startswith("'=HYPERLINK")  # a formula in, plain text out
        assert not any(isinstance(v, str) and v.startswith("=") for row in rows for v in row)
        assert svc.call("w1", "GET", "/api/households/export.xlsx").status_code == 403
        log = svc.call("admin", "GET", "/api/access-log?action=export").json()["entries"]
        assert log and log[0]["detail"]["masked"] is True



@pytest.mark.integration
@pytest.mark.slow
def test_the_dashboard_by_role_and_scope(svc: Svc) -> None:
    q = f"/api/dashboard?juwei={JUWEI}"
    want = {"w1": 200, "w2": 200, "sup": 200, "sup_other": 403, "trainer": 200, "evaluator": 403,
            "trainer_sup": 200, "admin": 200}
    got = {who: svc.call(who, "GET", q).status_code for who in ROLES}
    assert got == want
    assert svc.call("trainer", "GET", q).json()["visits"] is None  # the knowledge-base panel only
    mine = svc.call("w1", "GET", "/api/dashboard").json()
    region = svc.call("sup", "GET", q).json()
    assert mine["scope"] == "own" and region["scope"] == "region" and region["households"] > mine["households"]
    behind = svc.call("sup", "GET", f"/api/dashboard/households?metric=overdue&juwei={JUWEI}").json()["items"]
    assert len(behind) == region["overdue"]
    assert svc.call("trainer", "GET", "/api/dashboard/households?metric=overdue").status_code == 403


@pytest.mark.integration
@pytest.mark.slow
def test_drafts_by_role_scope_and_the_word_file(svc: Svc) -> None:
    import docx

    from app.service.visits.people import today

    r = svc.call("w1", "POST", "/api/visits", json={
        "client_id": "draft-" + uuid.uuid4().hex[:12], "household_id": svc.own, "method": "入户", "met": True,
        "visited_on": today().isoformat(), "notes": "老人精神不错，说想了解高龄津贴", "needs": [{"category": "政策咨询", "text": "高龄津贴怎么申请"}],
        "followups": [{"item": "送高龄津贴申请表", "due_on": ""}]})
    assert r.status_code == 200, r.text
    vid = r.json()["visit"]["id"]
    body = {"kind": "visit_summary", "visit_id": vid}
    got = {who: svc.call(who, "POST", "/api/drafts", json=body).status_code for who in ROLES}
    assert got == {"w1": 200, "w2": 404, "sup": 200, "sup_other": 404, "trainer": 403, "evaluator": 403,
                   "trainer_sup": 200, "admin": 200}
    d = svc.call("w1", "POST", "/api/drafts", json=body).json()
    assert d["kind_name"] == "走访小结" and "测*" in d["text"] and "测试甲" not in d["text"]
    assert "高龄津贴怎么申请" in d["text"] and any(f["source"] == f"走访记录 #{vid}" for f in d["facts"])
    edited = d["text"] + "\n补充：已电话告知家属。"
    r = svc.call("w1", "POST", "/api/drafts/docx", json={**body, "text": edited})
    assert r.status_code == 200 and r.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.wordprocessingml")
    paras = [p.text for p in docx.Document(io.BytesIO(r.content)).paragraphs]
    assert paras[0] == "走访小结" and "补充：已电话告知家属。" in paras
    log = svc.call("admin", "GET", "/api/access-log?action=export").json()["entries"]
    assert any(e["kind"] == "visit" and str(vid) in e["target"] and e["detail"].get("draft") == "visit_summary"
               for e in log)
    assert svc.call("w2", "POST", "/api/drafts/docx", json=body).status_code == 404  # rebuilt, so scoped again

    report = {"kind": "monthly_report", "juwei": JUWEI}
    assert svc.call("sup_other", "POST", "/api/drafts", json=report).status_code == 403
    rep = svc.call("sup", "POST", "/api/drafts", json=report).json()
    assert rep["demo"] and any("虚构" in n for n in rep["notices"]) and "一、总体情况" in rep["text"]
    t = svc.call("w1", "GET", "/api/drafts/templates").json()
    assert {x["key"] for x in t["templates"]} == {"heat_care", "water_power", "activity"}
    notice = {"kind": "notice", "template": "water_power", "fields": {
        "juwei": "晨光居委会（虚构示例）", "what": "停水", "time": "12月5日8:00至16:00", "area": "晨光一村1号楼至8号楼",
        "reason": "供水管道检修", "phone": "021-0000 0000"}}
    n = svc.call("trainer", "POST", "/api/drafts", json=notice)  # a notice holds no resident's data
    assert n.status_code == 200 and n.json()["title"] == "停水通知"
    bad = svc.call("w1", "POST", "/api/drafts", json={**notice, "fields": {"what": "停水"}})
    assert bad.status_code == 422 and "请填写" in bad.json()["detail"]
    assert svc.call("w1", "POST", "/api/drafts", json={"kind": "essay"}).status_code == 422


@pytest.mark.integration
@pytest.mark.slow
def test_ask_data_by_role_and_scope(svc: Svc) -> None:
    q = {"question": "晨光居委的独居老人有几户"}
    got = {who: svc.call(who, "POST", "/api/ask-data", json=q).status_code for who in ROLES}
    assert got == {"w1": 200, "w2": 200, "sup": 200, "sup_other": 200, "trainer": 403, "evaluator": 403,
                   "trainer_sup": 200, "admin": 200}
    region = svc.call("sup", "POST", "/api/ask-data", json=q).json()
    assert not region["declined"] and region["metric"] == "households" and region["value"] > 0
    assert "晨光居委（虚构示例）" in region["reading"] and len(region["items"]) == region["count"]
    # another street's supervisor: the 居委 is not a name in their roster, and their figure is their own
    other = svc.call("sup_other", "POST", "/api/ask-data", json=q).json()
    assert other["value"] == 0 and other["items"] == []
    mine = svc.call("w1", "POST", "/api/ask-data", json={"question": "我手上独居老人有几户"}).json()
    listed = svc.call("w1", "GET", "/api/households?tag=独居老人&status=在住&limit=500").json()["items"]
    assert {x["id"] for x in mine["items"]} == {x["id"] for x in listed} and svc.own in {x["id"] for x in listed}
    no = svc.call("sup", "POST", "/api/ask-data", json={"question": "测试甲的手机号是多少"}).json()
    assert no["declined"] and "个人信息" in no["reason"] and no["items"] == []
    assert svc.call("sup", "POST", "/api/ask-data", json={"question": "x" * 5000}).status_code == 422
