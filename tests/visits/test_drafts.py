"""智慧小助手's drafts on SQLite and PostgreSQL over a small roster whose figures are worked out by
hand (the dashboard's test roster), their scopes and masking, the notice templates, the LLM polish
check with a deterministic fake model, and the Word file read back."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import docx
import pytest
from docx.oxml.ns import qn

from app.core.errors import NotFoundError, ValidationError
from app.core.settings import Settings
from app.core.text import cn_number
from app.service.dashboard import Dashboard
from app.service.drafts import Drafts
from app.service.drafts.polish import numbers, unsupported
from app.service.drafts.word import to_docx
from app.service.tables import visits
from tests.fakes.llm import ScriptedLLM
from tests.visits.conftest import JUWEI, ROOT, World
from tests.visits.test_dashboard import MONTH, board  # noqa: F401  (the fixture)

TEMPLATES = Settings(knowledge_dir=ROOT / "knowledge").notice_templates_file


def on_draft(edit: Callable[[str], str]) -> ScriptedLLM:
    """A scripted model that answers a polish prompt with ``edit(the draft it was given)``."""
    return ScriptedLLM(lambda prompt: edit(prompt.split("<<<\n", 1)[1].rsplit("\n>>>", 1)[0]))


@pytest.fixture
def drafts(board: tuple[World, Dashboard, dict[str, int]]) -> tuple[World, Drafts, dict[str, int]]:  # noqa: F811
    w, dash, h = board
    return w, Drafts.build(w.db, w.visits, dash, TEMPLATES), h


def _visit_id(w: World, client_id: str) -> int:
    with w.db.read() as conn:
        return int(conn.execute(visits.select().with_only_columns(visits.c.id)
                                .where(visits.c.client_id == client_id)).scalar_one())


def test_the_monthly_report_states_the_dashboards_figures(drafts: tuple[World, Drafts, dict[str, int]]) -> None:
    w, dr, _ = drafts
    d = dr.make(w.sup, "monthly_report", {"juwei": JUWEI, "month": MONTH})
    t = d.text
    assert d.title == f"{JUWEI}2026年11月走访情况报告"
    # worked out by hand in tests/visits/test_dashboard.py: 5 households, 5 due, 2 done (h1, h3)
    assert "在住户 5 户；本月应入户走访 5 户，已走访 2 户，覆盖率 40%" in t
    assert "本月走访记录 5 条" in t and "入户 2 条" in t and "电话 2 条" in t and "入户（未遇） 1 条" in t
    assert "独居老人：应访 2 户，已访 1 户（50%）" in t
    assert "w1：应访 3 户，已访 1 户" in t and "w2：应访 2 户，已访 1 户" in t
    assert "未关闭的跟进事项 1 件，其中已过期限 1 件（逾期8-14天 1 件）" in t
    assert "尚未确认处理的 1 件" in t and "医疗健康 1 条（上月 0 条）" in t
    # every figure in the body is one of the facts listed with its source (the appendix is the 口径)
    body = t.split("附：口径说明")[0]
    allowed = numbers(" ".join(f.value for f in d.facts)) | numbers(d.title) | numbers("8-14 1. 2. 3.")
    assert numbers(body) <= allowed, numbers(body) - allowed
    assert all(f.source == "看板 2026-11" for f in d.facts if f.label != "统计截至")
    assert not d.demo


def test_a_worker_drafts_only_about_their_own_work(drafts: tuple[World, Drafts, dict[str, int]]) -> None:
    w, dr, h = drafts
    mine = dr.make(w.w1, "monthly_report", {"month": MONTH})
    assert mine.title.startswith("本人负责的住户") and "在住户 3 户" in mine.text
    log = dr.make(w.w2, "work_log", {"day": "2026-11-26", "span": "week"})
    assert log.title == "工作日志 2026年11月23日至2026年11月29日"
    assert "共走访 2 户次（入户 1 次、电话 1 次）" in log.text and "二、紧急情况\n测试小区1号楼3室（11-25）" in log.text
    assert set(log.used["household"]) == {h["h3"]}
    day = dr.make(w.w1, "work_log", {"day": "2026-11-20"})
    assert "共走访 1 户次（入户 1 次）" in day.text and "测试小区1号楼1室" in day.text
    with pytest.raises(Exception, match="社工只能生成自己的工作日志"):
        dr.make(w.w1, "work_log", {"day": "2026-11-20", "worker": "w2"})
    other = _visit_id(w, "d-h3-00001")  # w2's household
    with pytest.raises(NotFoundError):
        dr.make(w.w1, "visit_summary", {"visit_id": other})
    with pytest.raises(Exception, match="不在您的管辖范围"):
        dr.make(w.sup_other, "monthly_report", {"juwei": JUWEI, "month": MONTH})
    assert "在住户 0 户" in dr.make(w.sup_other, "monthly_report", {"month": MONTH}).text


def test_a_visit_summary_is_masked_unless_asked_and_the_reveal_is_logged(
        drafts: tuple[World, Drafts, dict[str, int]]) -> None:
    w, dr, h = drafts
    vid = _visit_id(w, "d-h1-00001")
    d = dr.make(w.w1, "visit_summary", {"visit_id": vid})
    assert "测**" in d.text and "测试1" not in d.text
    assert "1. 医疗健康：配药" in d.text and "送药（期限 2026-11-20）" in d.text and "风险等级：正常" in d.text
    before = w.visits.access.count()
    full = dr.make(w.w1, "visit_summary", {"visit_id": vid}, masked=False)
    assert "测试1" in full.text
    reveals = [e for e in w.visits.access.recent(10) if e["action"] == "reveal"]
    assert w.visits.access.count() > before and reveals and str(h["h1"]) in reveals[0]["target"]
    with pytest.raises(ValidationError, match="visit_id"):
        dr.make(w.w1, "visit_summary", {})


def test_notices_fill_their_templates_and_refuse_what_is_wrong(drafts: tuple[World, Drafts, dict[str, int]]) -> None:
    w, dr, _ = drafts
    fields = {"juwei": "晨光居委会（虚构示例）", "period": "7月20日至7月25日", "temperature": "38℃", "phone": "021-0000 0000"}
    d = dr.make(w.w1, "notice", {"template": "heat_care", "fields": fields})
    assert d.title == "高温关爱提醒" and "最高气温可达38℃" in d.text and "021-0000 0000" in d.text
    assert "避暑点" not in d.text  # an optional field left empty drops its line
    assert "{" not in d.text
    with pytest.raises(ValidationError, match="请填写：联系电话"):
        dr.make(w.w1, "notice", {"template": "heat_care", "fields": {**fields, "phone": " "}})
    with pytest.raises(ValidationError, match="没有这些项：weather"):
        dr.make(w.w1, "notice", {"template": "heat_care", "fields": {**fields, "weather": "晴"}})
    with pytest.raises(NotFoundError, match="可用的有"):
        dr.make(w.w1, "notice", {"template": "no_such", "fields": {}})
    with pytest.raises(ValidationError, match="太长"):
        dr.make(w.w1, "notice", {"template": "heat_care", "fields": {**fields, "period": "热" * 500}})


def test_a_polish_is_kept_only_when_it_adds_no_fact(drafts: tuple[World, Drafts, dict[str, int]]) -> None:
    w, dr, _ = drafts
    params = {"juwei": JUWEI, "month": MONTH}
    dr.llm = on_draft(lambda draft: draft.replace("一、总体情况", "一、总体情况（本月概况）"))
    dr.resident_llm_allowed = False
    kept = dr.make(w.sup, "monthly_report", params, polish=True)
    assert kept.drafted_by == "template" and "SHEGONG_VISIT_LLM_ALLOWED" in kept.note and not dr.llm.prompts
    dr.resident_llm_allowed = True
    ok = dr.make(w.sup, "monthly_report", params, polish=True)
    assert ok.drafted_by == "llm" and "（本月概况）" in ok.text and "核对" in ok.note
    assert any(e["action"] == "llm_send" for e in w.visits.access.recent(5))
    dr.llm = on_draft(lambda draft: draft + "\n另有十七户老人需要送餐。")
    bad = dr.make(w.sup, "monthly_report", params, polish=True)
    assert bad.drafted_by == "template" and "数字 17" in bad.note and "另有" not in bad.text
    def down(_: str) -> str:
        raise RuntimeError("the endpoint is down")

    dr.llm = ScriptedLLM(down)
    gone = dr.make(w.sup, "monthly_report", params, polish=True)
    assert gone.drafted_by == "template" and "暂时不可用" in gone.note
    unmasked = dr.make(w.w1, "visit_summary", {"visit_id": _visit_id(w, "d-h1-00001")}, masked=False, polish=True)
    assert unmasked.drafted_by == "template" and "未脱敏" in unmasked.note


def test_the_number_check() -> None:
    assert cn_number("一百二十三") == 123 and cn_number("十五") == 15 and cn_number("二〇二六") == 2026
    assert cn_number("一百零五") == 105 and cn_number("俩") == 2 and cn_number("十号") is None
    assert numbers("共 12 户，覆盖率 40%，二十户未访，2026-11-05") == {"12", "40", "20", "2026", "11", "5"}
    assert unsupported("走访了十二户", "走访 12 户", []) == []
    assert unsupported("走访了13户，王阿大", "走访 12 户", ["王阿大"]) == ["数字 13", "人名 王阿大"]
    assert unsupported("一、总体情况 一起做好", "总体情况", []) == []  # headings and words are not figures


def test_the_word_file_reads_back_with_a_chinese_font(drafts: tuple[World, Drafts, dict[str, int]]) -> None:
    w, dr, _ = drafts
    d = dr.make(w.sup, "monthly_report", {"juwei": JUWEI, "month": MONTH})
    edited = d.text.replace("（请补充。）", "下月重点走访独居老人。")
    doc = docx.Document(io.BytesIO(to_docx(edited)))
    paras = [p.text for p in doc.paragraphs]
    assert paras[0] == d.title and "下月重点走访独居老人。" in paras and "一、总体情况" in paras
    fonts = {r._element.rPr.rFonts.get(qn("w:eastAsia")) for p in doc.paragraphs for r in p.runs}
    assert fonts <= {"仿宋", "黑体"} and "仿宋" in fonts
    assert "草稿" in paras[-1]
    with pytest.raises(ValidationError, match="空的"):
        to_docx(" \n ")
    assert re.search("\x07", docx.Document(io.BytesIO(to_docx("标题\n响铃\x07字符"))).paragraphs[1].text) is None
