"""智慧小助手: the writing that eats a worker's evenings, drafted from what the records hold.

A visit's 走访小结, a worker's 工作日志 for a day or a week, a 居委's monthly 走访情况报告 with the
dashboard's figures, and notices from templates. Offline each is a template filled with facts from
the records, every figure listed with the record it came from; with an LLM allowed the text is
polished and then checked against those facts (``polish``). The worker edits before anything is
downloaded; drafts are masked by default, scoped like the visit module, and every draft and download
of residents' data is in the access log.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select

from app.core.errors import ForbiddenError, ValidationError
from app.service.accounts import Accounts, User
from app.service.dashboard import AGE_BUCKETS, Dashboard, month_bounds
from app.service.db import ServiceDB
from app.service.drafts.notices import NoticeTemplate, load_templates, template
from app.service.drafts.polish import polish as polish_draft
from app.service.drafts.types import KINDS, Draft, percent
from app.service.tables import followups, households, members, visits
from app.service.visits import Visits
from app.service.visits.access import Access
from app.service.visits.people import address_text, mask_name, today

WEEKDAYS = "一二三四五六日"


def cn_date(d: dt.date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def week_of(day: dt.date) -> tuple[dt.date, dt.date]:
    start = day - dt.timedelta(days=day.weekday())
    return start, start + dt.timedelta(days=6)


@dataclass
class Drafts:
    db: ServiceDB
    visits: Visits
    dashboard: Dashboard
    templates: dict[str, NoticeTemplate]
    llm: Any = None  # the assistant's LLMAnswerer when one is configured
    resident_llm_allowed: bool = False  # SHEGONG_VISIT_LLM_ALLOWED: residents' drafts may go to it, masked

    @classmethod
    def build(cls, db: ServiceDB, visits: Visits, dashboard: Dashboard, templates_file: Any, *,
              llm: Any = None) -> Drafts:
        return cls(db, visits, dashboard, load_templates(templates_file), llm=llm,
                   resident_llm_allowed=visits.llm_allowed)

    def make(self, user: User, kind: str, params: dict[str, Any], *, masked: bool = True,
             polish: bool = False) -> Draft:
        """One entry point for the API: ``kind`` and its parameters; ``polish`` asks the LLM."""
        draft = self._make(user, kind, params, masked=masked)
        return self._polish(user, draft) if polish else draft

    def _polish(self, user: User, draft: Draft) -> Draft:
        if self.llm is None:
            draft.note = "没有配置大模型，以下是按模板生成的文字。"
            return draft
        if draft.kind != "notice":
            if not self.resident_llm_allowed:
                draft.note = "居民的信息不发送给大模型（运维没有开启 SHEGONG_VISIT_LLM_ALLOWED），以下是按模板生成的文字。"
                return draft
            if not draft.masked:
                draft.note = "未脱敏的材料不发送给大模型，以下是按模板生成的文字。"
                return draft
            for kind, ids in (draft.used or {"draft": []}).items():
                self.visits.access.record(user, Access.LLM_SEND, kind, ids, {"draft": draft.kind})
        return polish_draft(draft, self.llm, self._names(draft))

    def _names(self, draft: Draft) -> list[str]:
        """Residents' names of the households a draft is about, which a polish must not bring in."""
        ids = draft.used.get("household", [])
        if not ids:
            return []
        with self.db.read() as conn:
            return [n for (n,) in conn.execute(select(members.c.name).where(members.c.household_id.in_(ids)))]

    def _make(self, user: User, kind: str, params: dict[str, Any], *, masked: bool) -> Draft:
        if kind not in KINDS:
            raise ValidationError(f"材料类型只能是 {'、'.join(f'{k}（{v}）' for k, v in KINDS.items())} 之一。")
        if kind == "notice":
            return self.notice(user, str(params.get("template") or ""), dict(params.get("fields") or {}))
        user.require("visit")
        if kind == "visit_summary":
            vid = params.get("visit_id")
            if not isinstance(vid, int):
                raise ValidationError("请给出走访记录的编号（visit_id）。")
            return self.visit_summary(user, vid, masked=masked)
        if kind == "work_log":
            span = str(params.get("span") or "day")
            if span not in ("day", "week"):
                raise ValidationError("工作日志的范围只能是 day（一天）或 week（一周）。")
            day = _day(params.get("day"))
            return self.work_log(user, day=day, span=span, worker=str(params.get("worker") or ""), masked=masked)
        return self.monthly_report(user, juwei=str(params.get("juwei") or ""), month=str(params.get("month") or ""))

    def log_download(self, user: User, draft: Draft) -> None:
        """A download of a draft about residents goes in the access log, with the records it used."""
        for kind, ids in draft.used.items():
            self.visits.access.record(user, Access.EXPORT, kind, ids, {"draft": draft.kind, "masked": draft.masked})
        if not draft.used and draft.kind != "notice":
            self.visits.access.record(user, Access.EXPORT, "draft", [], {"draft": draft.kind})

    # -- 走访小结 ----------------------------------------------------------------------------------
    def visit_summary(self, user: User, visit_id: int, *, masked: bool = True) -> Draft:
        v = self.visits.book.get(user, visit_id)  # scoped, and logged as a read
        h = self.visits.roster.get(user, int(v["household_id"]), log=False)
        if not masked:
            self.visits.access.record(user, Access.REVEAL, "household", [h.id], {"draft": "visit_summary"})
        src = f"走访记录 #{visit_id}"
        d = Draft("visit_summary", "走访小结", [], masked=masked, demo=bool(v["demo"]),
                  used={"visit": [visit_id], "household": [h.id]})
        person = next((m for m in h.people if m["relation"] == "本人"), h.people[0] if h.people else None)
        who = (mask_name(person["name"]) if masked else person["name"]) if person else ""
        address = address_text(h.row["xiaoqu"], h.row["building"], h.row["room"])
        day = dt.date.fromisoformat(v["visited_on"])
        d.lines += [
            f"时间：{d.fact('走访日期', cn_date(day), src)}（星期{WEEKDAYS[day.weekday()]}）",
            f"方式：{d.fact('走访方式', v['method'], src)}，{'见到本人/家属' if v['met'] else '未遇'}",
            f"对象：{h.row['juwei']} {d.fact('地址', address, '户档案')}"
            + (f" {d.fact('居民', who, '户档案')}" if who else "")
            + (f"（{'、'.join(h.tags)}）" if h.tags else ""),
            f"走访人：{d.fact('走访人', v['worker'] or user.username, src)}",
            "",
            "一、基本情况",
            v["notes"] or "（记录里没有写情况，请补充。）",
        ]
        done = [k for k, ok in (v.get("checklist") or {}).items() if ok]
        if done:
            d.lines.append("已了解：" + "、".join(done) + "。")
        d.lines += ["", "二、居民诉求"]
        d.lines += [f"{i}. {n['category']}：{n['text']}" for i, n in enumerate(v["needs"], 1)] or ["无。"]
        d.lines += ["", "三、风险评估", f"风险等级：{d.fact('风险等级', v['risk'], src)}"
                    + (f"；发现的情况：{'、'.join(v['risk_signs'])}" if v["risk_signs"] else "")]
        if v["referral"]:
            d.lines.append(f"已转介：{v['referral']}")
        d.lines += ["", "四、后续跟进"]
        fus = v["followups"]
        d.lines += [f"{i}. {f['item']}" + (f"（期限 {d.fact('跟进期限', f['due_on'], src)}）" if f["due_on"] else "（未定期限）")
                    + ("，已完成" if f["status"] == "closed" else "") for i, f in enumerate(fus, 1)] or ["暂无。"]
        return d

    # -- 工作日志 ----------------------------------------------------------------------------------
    def _target(self, user: User, worker: str) -> User:
        if not worker or worker == user.username:
            return user
        if not self.visits.roster.scope(user).supervises:
            raise ForbiddenError("社工只能生成自己的工作日志。")
        return Accounts(self.db).get(worker)  # NotFoundError names the account

    def work_log(self, user: User, *, day: dt.date | None = None, span: str = "day", worker: str = "",
                 masked: bool = True) -> Draft:
        target = self._target(user, worker)
        day = day or today()
        start, end = (day, day) if span == "day" else week_of(day)
        scope = self.visits.roster.scope(user)
        h, v, f = households.c, visits.c, followups.c
        period = and_(v.visited_on >= start.isoformat(), v.visited_on <= end.isoformat())
        with self.db.read() as conn:
            rows = [dict(r) for r in conn.execute(
                select(v.id, v.household_id, v.visited_on, v.method, v.met, v.risk, v.needs_json, v.notes, v.demo,
                       h.juwei, h.xiaoqu, h.building, h.room)
                .join_from(visits, households, h.id == v.household_id)
                .where(v.worker_id == target.id, period, scope.clause(today()))
                .order_by(v.visited_on, v.id)).mappings()]
            closed = [dict(r) for r in conn.execute(
                select(f.id, f.item, f.closed_at, f.close_note, h.xiaoqu, h.building, h.room)
                .join_from(followups, households, h.id == f.household_id)
                .where(f.closed_by == target.id, f.closed_at >= start.isoformat(),
                       f.closed_at < (end + dt.timedelta(days=1)).isoformat(), scope.clause(today()))
                .order_by(f.closed_at)).mappings()]
            horizon = (end + dt.timedelta(days=7)).isoformat()
            pending = [dict(r) for r in conn.execute(
                select(f.id, f.item, f.due_on, h.xiaoqu, h.building, h.room)
                .join_from(followups, households, h.id == f.household_id)
                .where(f.status == "open", h.worker_id == target.id, f.due_on != "", f.due_on <= horizon,
                       scope.clause(today()))
                .order_by(f.due_on)).mappings()]
        when = cn_date(start) + (f"（星期{WEEKDAYS[start.weekday()]}）" if span == "day" else f"至{cn_date(end)}")
        src = f"{target.username} 的走访记录"
        d = Draft("work_log", f"工作日志 {when}", [], masked=masked, demo=any(r["demo"] for r in rows),
                  used={"visit": [r["id"] for r in rows], "household": sorted({r["household_id"] for r in rows}),
                        "followup": [r["id"] for r in closed + pending]})
        methods: dict[str, int] = {}
        for r in rows:
            methods[r["method"]] = methods.get(r["method"], 0) + 1
        not_met = sum(1 for r in rows if not r["met"])
        by_method = "、".join(f"{k} {d.fact(k + '次数', n, src)} 次" for k, n in methods.items())
        d.lines += [f"社工：{d.fact('社工', target.username, '账号')}", "", "一、走访情况",
                    f"共走访 {d.fact('走访户次', len(rows), src)} 户次" + (f"（{by_method}）" if methods else "")
                    + (f"，其中未遇 {d.fact('未遇次数', not_met, src)} 次" if not_met else "") + "。"]
        for i, r in enumerate(rows, 1):
            needs = [n["text"] for n in json.loads(r["needs_json"])]
            bits = [r["method"], "见到" if r["met"] else "未遇", r["risk"]]
            d.lines.append(f"{i}. {r['visited_on'][5:]} {address_text(r['xiaoqu'], r['building'], r['room'])}："
                           + "，".join(bits) + (f"；诉求：{'；'.join(needs)}" if needs else ""))
        urgent = [r for r in rows if r["risk"] == "紧急"]
        d.lines += ["", "二、紧急情况"]
        d.lines += [f"{address_text(r['xiaoqu'], r['building'], r['room'])}（{r['visited_on'][5:]}）：{r['notes'][:80]}"
                    for r in urgent] or ["无。"]
        d.lines += ["", "三、跟进事项", f"已完成 {d.fact('完成跟进', len(closed), src)} 件"
                    + ("：" + "；".join(f"{c['item']}" for c in closed) if closed else "") + "。"]
        if pending:
            d.lines.append(f"待办（含逾期，期限到 {horizon}）：")
            d.lines += [f"- {p['due_on']} {address_text(p['xiaoqu'], p['building'], p['room'])}：{p['item']}" for p in pending]
        d.lines += ["", "四、" + ("明日" if span == "day" else "下周") + "安排", "（请补充。）"]
        return d

    # -- 走访情况报告 ------------------------------------------------------------------------------
    def monthly_report(self, user: User, *, juwei: str = "", month: str = "") -> Draft:
        s = self.dashboard.summary(user, juwei=juwei, month=month or None)  # scoped; logged as a read
        start, _ = month_bounds(s["month"])
        region = juwei or ("本人负责的住户" if s["scope"] == "own" else user.supervised_region or "全部辖区")
        src = f"看板 {s['month']}"
        title = f"{region}{start.year}年{start.month}月走访情况报告"
        d = Draft("monthly_report", title, [], masked=True, demo=self._has_demo(user, juwei))
        cov = s["coverage"]
        # a household with two tags is in two coverage rows: the totals come from the per-worker rows
        due = sum(w["due"] for w in s["by_worker"])
        done = sum(w["done"] for w in s["by_worker"])
        methods = s["methods"]
        total = sum(methods.values())
        by_method = "、".join(f"{k} {d.fact(k, n, src)} 条" for k, n in sorted(methods.items(), key=lambda x: -x[1]))
        d.lines += [
            f"统计截至：{d.fact('统计截至', s['day'], src)}", "",
            "一、总体情况",
            f"在住户 {d.fact('在住户数', s['households'], src)} 户；本月应入户走访 {d.fact('应访户数', due, src)} 户，"
            f"已走访 {d.fact('已访户数', done, src)} 户，覆盖率 {d.fact('覆盖率', percent(done, due), src)}。"
            f"本月走访记录 {d.fact('走访记录数', total, src)} 条" + (f"，其中{by_method}" if methods else "") + "。",
            "", "二、重点人群走访"]
        d.lines += [f"{c['tag']}：应访 {d.fact(c['tag'] + '应访', c['due'], src)} 户，已访 {d.fact(c['tag'] + '已访', c['done'], src)} 户"
                    f"（{d.fact(c['tag'] + '覆盖率', percent(c['done'], c['due']), src)}）" for c in cov if c["due"]] or ["本月没有应访的户。"]
        d.lines += ["", "三、社工走访情况"]
        d.lines += [f"{w['worker']}：应访 {d.fact(w['worker'] + '应访', w['due'], src)} 户，已访 {d.fact(w['worker'] + '已访', w['done'], src)} 户，"
                    f"逾期 {d.fact(w['worker'] + '逾期', w['overdue'], src)} 户" for w in s["by_worker"]] or ["无。"]
        late = {b["bucket"]: b["count"] for b in s["followups"]}
        open_total = sum(late.values())
        overdue_fu = sum(late.get(name, 0) for name, lo, _ in AGE_BUCKETS if lo > 0)
        late_text = "、".join(f"{b} {n} 件" for b, n in late.items() if n and b not in ("未到期", "无期限"))
        d.lines += ["", "四、逾期与跟进",
                    f"按建议走访间隔已逾期未访 {d.fact('逾期户数', s['overdue'], src)} 户。"
                    f"未关闭的跟进事项 {d.fact('未关闭跟进', open_total, src)} 件，其中已过期限 {d.fact('过期跟进', overdue_fu, src)} 件"
                    + (f"（{late_text}）" if overdue_fu else "")
                    + f"。标为紧急、尚未确认处理的 {d.fact('紧急未确认', s['urgent'], src)} 件。"]
        d.lines += ["", "五、居民诉求"]
        needs = [n for n in s["needs"] if n["this_month"]]
        if needs:
            d.lines.append(f"本月登记诉求 {d.fact('诉求总数', sum(n['this_month'] for n in needs), src)} 条：")
            for n in needs:
                trend = n["trend"]
                prev = trend[-2]["count"] if len(trend) >= 2 else 0
                d.lines.append(f"{n['category']} {d.fact(n['category'] + '诉求', n['this_month'], src)} 条（上月 {d.fact(n['category'] + '上月', prev, src)} 条）")
        else:
            d.lines.append("本月没有登记诉求。")
        d.lines += ["", "六、下一步工作"]
        steps = []
        if s["overdue"]:
            steps.append(f"对逾期未访的 {s['overdue']} 户尽快安排入户。")
        if overdue_fu:
            steps.append(f"督办已过期限的 {overdue_fu} 件跟进事项。")
        if s["urgent"]:
            steps.append(f"确认并处理 {s['urgent']} 件紧急情况。")
        d.lines += [f"{i}. {t}" for i, t in enumerate(steps, 1)] + ["（请补充。）"]
        d.lines += ["", "附：口径说明", *(f"{v}" for k, v in s["definitions"].items() if k != "kb")]
        return d

    def _has_demo(self, user: User, juwei: str) -> bool:
        scope = self.dashboard.scope(user, juwei)
        with self.db.read() as conn:
            return conn.execute(select(households.c.id).where(households.c.demo == 1, scope.clause(today()))
                                .limit(1)).first() is not None

    # -- 通知 -------------------------------------------------------------------------------------
    def notice(self, user: User, key: str, fields: dict[str, Any]) -> Draft:
        t = template(self.templates, key)
        title, lines = t.fill({k: str(v) for k, v in fields.items()}, cn_date(today()))
        d = Draft("notice", title, lines, masked=True)
        for f in t.fields:
            if fields.get(f.key):
                d.fact(f.label, str(fields[f.key]).strip(), "填写的内容")
        return d


def _day(value: Any) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValidationError(f"日期“{value}”无效，请写成 2026-12-01 这样。") from None


