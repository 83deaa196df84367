"""数据会说话, the dashboard: what the visit records and the questions asked say about a region, at a
glance, each figure with its 口径 and the list behind it.

Scopes as in the visit module: a worker sees their own work, a supervisor their region (any 居委
below it), an admin everything; a trainer sees only the knowledge-base panel, and nobody sees one
worker's conversations: questions appear as grouped topics (two questions or more), masked.
Months and days are Asia/Shanghai ones (visit days are stored as such).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, select, text

from app.core.errors import ForbiddenError, ValidationError
from app.service.accounts import User
from app.service.db import ServiceDB
from app.service.tables import conversations, feedback, followups, households, messages, users, visits
from app.service.visits import Visits
from app.service.visits.access import Access
from app.service.visits.people import address_text, today
from app.service.visits.plan import due_of, tag_names
from app.service.visits.scope import Scope

# Each figure's 口径: how it is counted, a tap away on screen.
DEFINITIONS: dict[str, str] = {
    "coverage": "应访：本月内到期（按标签的建议入户间隔）或本月已入户的在住户；已访：本月有过见到人的入户走访。"
                "电话、微信算联系，不算入户；未遇不算已访。",
    "overdue": "逾期：按标签的建议间隔，入户或联系的到期日已过、至今未做的在住户（与走访计划同一算法）。",
    "followups": "未关闭的跟进事项，按逾期天数分组；没有期限的单列。",
    "urgent": "标为紧急、站长尚未确认处理的走访记录。",
    "needs": "走访记录里登记的诉求，按类别计数（按走访日期所在月份）。",
    "methods": "本月走访记录按方式计数；未遇的也计入（它是一次走访尝试）。",
    "kb": "知识库使用：提问数按天；拒答率 = 拒答数 / 提问数；👎率 = 点了没用的回答 / 有评价的回答；"
          "未答上的话题只列出至少被问过 2 次的，且不显示原问题。",
}
AGE_BUCKETS = (("未到期", -10**6, 0), ("逾期1-7天", 1, 7), ("逾期8-14天", 8, 14), ("逾期15-30天", 15, 30),
               ("逾期30天以上", 31, 10**6))


def month_bounds(month: str | None) -> tuple[dt.date, dt.date]:
    if not month:
        d = today()
        start = d.replace(day=1)
    else:
        try:
            start = dt.date.fromisoformat(month[:7] + "-01")
        except ValueError as exc:
            raise ValidationError(f"月份“{month}”无效，请写成 2026-12 这样。") from exc
    nxt = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return start, nxt - dt.timedelta(days=1)


@dataclass
class Dashboard:
    db: ServiceDB
    visits: Visits

    def scope(self, user: User, juwei: str) -> Scope:
        """The caller's scope, narrowed to a region when one is asked for (a 居委 or a street)."""
        scope = self.visits.roster.scope(user)
        if not juwei or not scope.supervises:
            return scope  # a worker's figures are their own households wherever they are
        below = self.visits.regions.below(juwei)
        allowed = below if scope.everything else below & scope.juwei
        if not allowed or (juwei not in self.visits.regions.tree()):
            raise ForbiddenError(f"“{juwei}”不在您的管辖范围内（或不在地区表中）。")
        return Scope(user, juwei=frozenset(allowed))

    def _households(self, scope: Scope, start: dt.date, end: dt.date, own_only: bool, *,
                    stored: bool | None = None) -> list[dict[str, Any]]:
        """The 在住 households in scope as they stood at the month's end: their last home visit and
        last contact up to that day, and whether a home visit fell in the month.

        While the month's end is still ahead, that is what each household row already keeps (a
        visit is never dated after tomorrow), so the visits are not read at all; a past month is
        worked out from its visits. ``stored`` forces one way (the test compares them)."""
        day = min(today(), end)
        if stored is None:
            stored = end > today()
        extra = households.c.status == "在住"
        if own_only:
            extra = extra & (households.c.worker_id == scope.user.id)
        h = households.c
        cols = [h.id, h.juwei, h.xiaoqu, h.building, h.room, h.tags_json, h.urgent_open, h.demo,
                users.c.username.label("worker")]
        if stored:
            q = (select(*cols, h.last_visit_on.label("last_home"), h.last_contact_on.label("last_contact"),
                        case((h.last_visit_on >= start.isoformat(), 1), else_=0).label("in_month"))
                 .join_from(households, users, users.c.id == h.worker_id, isouter=True)
                 .where(scope.clause(day), extra))
        else:
            v = visits.c
            home = and_(v.met == 1, v.method == "入户")
            per = (select(v.household_id,
                          func.max(case((home, v.visited_on), else_="")).label("last_home"),
                          func.max(v.visited_on).label("last_contact"),
                          func.max(case((and_(home, v.visited_on >= start.isoformat()), 1), else_=0)).label("in_month"))
                   .join_from(visits, households, households.c.id == v.household_id)
                   .where(v.met == 1, v.visited_on <= end.isoformat(), scope.clause(day), extra)
                   .group_by(v.household_id)).subquery()
            q = (select(*cols, per.c.last_home, per.c.last_contact, per.c.in_month)
                 .join_from(households, per, per.c.household_id == h.id, isouter=True)
                 .join(users, users.c.id == h.worker_id, isouter=True)
                 .where(scope.clause(day), extra))
        with self.db.read() as conn:
            result = conn.execute(q)
            keys = list(result.keys())
            rows = [dict(zip(keys, r, strict=True)) for r in result.all()]  # one fetchall: a street is 20k rows
        for row in rows:
            row["last_visit_on"] = row.pop("last_home") or ""
            row["last_contact_on"] = row.pop("last_contact") or ""
            row["in_month"] = bool(row["in_month"])
        return rows

    # -- the visit panels -------------------------------------------------------------------------
    def summary(self, user: User, *, juwei: str = "", month: str | None = None) -> dict[str, Any]:
        if not user.can("visit"):
            return {"kb": self.kb_panel(user), "definitions": DEFINITIONS, "visits": None}
        scope = self.scope(user, juwei)
        own = not scope.supervises
        start, end = month_bounds(month)
        day = min(today(), end)
        hh = self._households(scope, start, end, own)
        tags = self.visits.tags
        cov: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        by_worker: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        overdue = 0
        for h in hh:
            d = due_of(h, tags, day, set())
            visited = h["in_month"]
            due = visited or d.due_on <= end
            names = tag_names(h["tags_json"], tags) or ["（无标签）"]
            for t in names:
                cov[t][0] += due
                cov[t][1] += due and visited
            w = by_worker[h["worker"] or "（未分配）"]
            w[0] += due
            w[1] += due and visited
            if d.overdue_days > 0:
                overdue += 1
                w[2] += 1
        fu = self._followup_ages(scope, own, day)
        v = visits.c
        mine = (v.worker_id == user.id) if own else None
        with self.db.read() as conn:
            def scoped(q: Any) -> Any:
                q = q.join_from(visits, households, households.c.id == v.household_id).where(scope.clause(day))
                return q if mine is None else q.where(mine)

            in_month = and_(v.visited_on >= start.isoformat(), v.visited_on <= end.isoformat())
            methods: Counter[str] = Counter()
            for method, met, n in conn.execute(scoped(select(v.method, v.met, func.count()))
                                               .where(in_month).group_by(v.method, v.met)):
                methods[method + ("" if met else "（未遇）")] += n
            in_scope = select(households.c.id).where(scope.clause(day))
            # Literal terms, so that both engines read the partial index of revision 0002 (a handful
            # of rows), then kept to the households in view.
            ids = {h["id"] for h in hh}
            urgent = sum(1 for hid, wid in conn.execute(
                select(v.household_id, v.worker_id).where(text("visits.risk = '紧急' AND visits.acknowledged_at = ''")))
                if hid in ids and (not own or wid == user.id))
            needs: dict[str, Counter[str]] = defaultdict(Counter)
            needs_q = select(v.visited_on, v.needs_json).where(
                text("visits.needs_json != '[]'"), v.visited_on >= (start - dt.timedelta(days=155)).isoformat(),
                v.visited_on <= end.isoformat(), v.household_id.in_(in_scope))
            for visited_on, needs_json in conn.execute(needs_q if mine is None else needs_q.where(mine)):
                for n in json.loads(needs_json):
                    needs[n.get("category", "其他")][visited_on[:7]] += 1
        months = sorted({m for c in needs.values() for m in c} | {start.isoformat()[:7]})[-6:]
        self.visits.access.record(user, Access.READ, "dashboard", [], {"juwei": juwei, "month": start.isoformat()[:7]})
        return {
            "scope": "own" if own else "region" if not scope.everything else "all",
            "juwei": juwei, "month": start.isoformat()[:7], "day": day.isoformat(), "households": len(hh),
            "coverage": [{"tag": t, "due": v[0], "done": v[1], "rate": round(v[1] / v[0], 3) if v[0] else None}
                         for t, v in sorted(cov.items(), key=lambda x: -x[1][0])],
            "by_worker": [{"worker": w, "due": v[0], "done": v[1], "overdue": v[2]} for w, v in sorted(by_worker.items())],
            "overdue": overdue, "followups": fu, "urgent": urgent,
            "methods": dict(methods),
            "needs": [{"category": c, "this_month": cnt.get(start.isoformat()[:7], 0),
                       "trend": [{"month": m, "count": cnt.get(m, 0)} for m in months]}
                      for c, cnt in sorted(needs.items(), key=lambda x: -sum(x[1].values()))],
            "kb": self.kb_panel(user, juwei=juwei),
            "definitions": DEFINITIONS,
        }

    def _followup_ages(self, scope: Scope, own: bool, day: dt.date) -> list[dict[str, Any]]:
        q = (select(followups.c.due_on, func.count())
             .join_from(followups, households, households.c.id == followups.c.household_id)
             .where(followups.c.status == "open", scope.clause(day)).group_by(followups.c.due_on))
        if own:
            q = q.where(households.c.worker_id == scope.user.id)
        counts: Counter[str] = Counter()
        with self.db.read() as conn:
            for due_on, n in conn.execute(q):
                if not due_on:
                    counts["无期限"] += n
                    continue
                late = (day - dt.date.fromisoformat(due_on)).days
                counts[next(name for name, lo, hi in AGE_BUCKETS if lo <= late <= hi)] += n
        return [{"bucket": b, "count": counts.get(b, 0)} for b in [*(n for n, _, _ in AGE_BUCKETS), "无期限"]]

    # -- the lists behind the figures ------------------------------------------------------------
    def households_behind(self, user: User, metric: str, *, juwei: str = "", tag: str = "", worker: str = "",
                          month: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """The households behind a coverage or overdue figure (``metric``: due, done, not_done, overdue)."""
        if metric not in ("due", "done", "not_done", "overdue"):
            raise ValidationError("metric 只能是 due、done、not_done 或 overdue。")
        scope = self.scope(user, juwei)
        start, end = month_bounds(month)
        day = min(today(), end)
        out = []
        for h in self._households(scope, start, end, not scope.supervises):
            names = json.loads(h["tags_json"])
            if tag and tag not in (names or ["（无标签）"]):
                continue
            if worker and (h["worker"] or "（未分配）") != worker:
                continue
            d = due_of(h, self.visits.tags, day, set())
            visited = h["in_month"]
            due = visited or d.due_on <= end
            keep = {"due": due, "done": due and visited, "not_done": due and not visited,
                    "overdue": d.overdue_days > 0}[metric]
            if keep:
                out.append({"household_id": h["id"], "juwei": h["juwei"], "worker": h["worker"] or "",
                            "address": address_text(h["xiaoqu"], h["building"], h["room"]), "tags": names,
                            "last_visit_on": h["last_visit_on"], "reason": d.reason, "overdue_days": d.overdue_days,
                            "demo": bool(h["demo"])})
        out.sort(key=lambda x: (-x["overdue_days"], x["juwei"], x["address"]))
        self.visits.access.record(user, Access.READ, "household", [x["household_id"] for x in out[:limit]],
                                  {"dashboard": metric})
        return out[:limit]

    # -- the knowledge base's use -----------------------------------------------------------------
    def kb_panel(self, user: User, *, juwei: str = "", days: int = 30) -> dict[str, Any]:
        """Questions a day, refusal and 👎 rates, the most cited documents, unanswered topics: for
        trainers and admins over everyone, for a supervisor over their region's accounts, for a
        worker over their own questions."""
        since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).isoformat(timespec="seconds")
        q = (select(messages.c.question, messages.c.refused, messages.c.citations_json, messages.c.created_at,
                    feedback.c.rating, conversations.c.user_id)
             .join_from(messages, conversations, conversations.c.id == messages.c.conversation_id)
             .join(feedback, feedback.c.message_id == messages.c.id, isouter=True)
             .where(messages.c.created_at >= since))
        if user.role not in ("trainer", "admin"):
            scope = self.visits.roster.scope(user)
            if scope.supervises and not scope.everything:
                in_region = sorted(self.visits.regions.below(user.supervised_region))
                q = q.where(conversations.c.user_id.in_(select(users.c.id).where(users.c.region.in_(in_region))))
            elif not scope.everything:
                q = q.where(conversations.c.user_id == user.id)
        per_day: Counter[str] = Counter()
        cited: Counter[str] = Counter()
        refused_q: list[str] = []
        asked = refused = rated = down = 0
        with self.db.read() as conn:
            for r in conn.execute(q):
                asked += 1
                per_day[r.created_at[:10]] += 1
                if r.refused:
                    refused += 1
                    refused_q.append(r.question)
                if r.rating is not None:
                    rated += 1
                    down += r.rating < 0
                for c in json.loads(r.citations_json or "[]"):
                    title = c.get("title") if isinstance(c, dict) else None
                    if title:
                        cited[title] += 1
        return {"days": days, "asked": asked, "per_day": [{"day": d, "count": n} for d, n in sorted(per_day.items())],
                "refusal_rate": round(refused / asked, 3) if asked else None,
                "thumbs_down_rate": round(down / rated, 3) if rated else None,
                "most_cited": [{"title": t, "count": n} for t, n in cited.most_common(10)],
                "unanswered_topics": topics(refused_q)}


def summary_xlsx(d: dict[str, Any]) -> bytes:
    """The dashboard's figures as a workbook (no resident appears in it: counts only)."""
    from app.service.visits.sheets import write_xlsx

    sheets: list[tuple[str, list[str], list[list[Any]]]] = []
    if d.get("coverage") is not None:
        sheets.append(("走访覆盖", ["标签", "应访", "已访", "覆盖率"],
                       [[c["tag"], c["due"], c["done"], c["rate"]] for c in d["coverage"]]))
        sheets.append(("按社工", ["社工", "应访", "已访", "逾期"],
                       [[w["worker"], w["due"], w["done"], w["overdue"]] for w in d["by_worker"]]))
        sheets.append(("跟进", ["逾期情况", "未关闭"], [[f["bucket"], f["count"]] for f in d["followups"]]))
        months = [t["month"] for t in d["needs"][0]["trend"]] if d["needs"] else []
        sheets.append(("诉求", ["类别", *months], [[n["category"], *(t["count"] for t in n["trend"])] for n in d["needs"]]))
    kb = d["kb"]
    sheets.append(("知识库使用", ["项目", "数值"], [["提问数", kb["asked"]], ["拒答率", kb["refusal_rate"]],
                                              ["👎率", kb["thumbs_down_rate"]]]
                   + [[f"未答上的话题：{t['topic']}", t["count"]] for t in kb["unanswered_topics"]]))
    sheets.append(("口径", ["指标", "口径"], [[k, v] for k, v in d["definitions"].items()]))
    return write_xlsx(sheets)


def warm_up() -> None:
    """Load jieba's keyword tables (about 0.7 s here) at start-up, not on a supervisor's first
    dashboard: the knowledge-base panel groups refused questions by their keywords."""
    import jieba.analyse

    jieba.analyse.extract_tags("社区走访", topK=1)


def topics(questions: list[str], *, min_count: int = 2, top: int = 15) -> list[dict[str, Any]]:
    """Refused questions grouped by their two main keywords; only groups of ``min_count`` or more,
    and never a question's text (it may hold a resident's situation)."""
    import jieba.analyse

    from app.core.text import drop_pii

    groups: Counter[str] = Counter()
    for q in questions:
        words = jieba.analyse.extract_tags(drop_pii(q), topK=2)
        if words:
            groups[" · ".join(sorted(words))] += 1
    return [{"topic": t, "count": n} for t, n in groups.most_common(top) if n >= min_count]


def require_dashboard(user: User) -> None:
    if not (user.can("visit") or user.role == "trainer"):
        raise ForbiddenError("当前账号没有查看看板的权限。")

