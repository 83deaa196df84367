"""问数: questions to the visit data in plain words ("上个月哪些高龄老人一次都没走访到？").

Offline, ``grammar.read`` turns a question into a declared metric with filters and a period over
the names the asker's roster holds; ``metrics.Metrics`` computes it in the asker's scope. The
answer is the figure, the list behind it, how the question was read ("按：上月 · 高龄 · 未入户走访
的户") and the metric's 口径; a question it cannot read is declined with the nearest it can answer.
``sql`` holds the checker and the scoped read-only runner for SQL written by an LLM.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from app.core.errors import ValidationError
from app.service.accounts import User
from app.service.askdata.grammar import METRIC_NAMES, Names, lexicon, read
from app.service.askdata.metrics import DEFINITIONS, KINDS, MAX_ITEMS, UNITS, Metrics
from app.service.askdata.sql import check, run, schema_text
from app.service.db import ServiceDB
from app.service.tables import households, users
from app.service.visits import Visits
from app.service.visits.access import Access
from app.service.visits.people import today as today_shanghai

NAMES_TTL_S = 60.0
ASK_PROMPT = "ask_sql.v1"
log = logging.getLogger(__name__)


@dataclass
class AskResult:
    question: str
    declined: bool
    reading: str = ""
    metric: str = ""
    value: int | float = 0
    unit: str = ""
    ids: list[int] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    answer: str = ""
    definition: str = ""
    reason: str = ""
    nearest: list[str] = field(default_factory=list)
    kind: str = ""  # household | visit | followup: what the ids are
    by: str = "grammar"  # grammar | llm
    sql: str = ""  # the checked query, shown, when an LLM wrote it
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "declined": self.declined, "reading": self.reading, "metric": self.metric,
                "metric_name": METRIC_NAMES.get(self.metric, ""), "value": self.value, "unit": self.unit,
                "count": len(self.ids), "items": self.items[:MAX_ITEMS], "answer": self.answer,
                "definition": self.definition, "reason": self.reason, "nearest": self.nearest, "kind": self.kind,
                "by": self.by, "sql": self.sql, "columns": self.columns, "rows": self.rows[:MAX_ITEMS]}


def _base(name: str) -> str:
    return re.sub(r"[（(].*?[)）]", "", name).strip()


def _common_prefix(names: list[str]) -> str:
    if len(names) < 2:
        return ""
    a, b = min(names), max(names)
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    return a[:i]


class AskData:
    """``llm`` writes SQL for what the grammar cannot read, only when ``llm_allowed``
    (``SHEGONG_VISIT_LLM_ALLOWED``): it gets the views' schema and the question, never rows."""

    def __init__(self, db: ServiceDB, visits: Visits, *, llm: Any = None, llm_allowed: bool = False) -> None:
        self.db = db
        self.visits = visits
        self.metrics = Metrics(db, visits.regions)
        self.llm = llm
        self.llm_allowed = llm_allowed and llm is not None
        self._names: dict[tuple[Any, ...], tuple[float, Names]] = {}

    def names(self, user: User, day: dt.date) -> Names:
        """What the asker's roster calls things, with the short forms people say; kept for a minute
        per asker (a roster scan of a street is tens of milliseconds)."""
        key = (user.id, user.role, user.region, user.supervised_region, day)
        hit = self._names.get(key)
        if hit and time.monotonic() - hit[0] < NAMES_TTL_S:
            return hit[1]
        names = self._scan_names(user, day)
        if len(self._names) > 256:
            self._names.clear()
        self._names[key] = (time.monotonic(), names)
        return names

    def _scan_names(self, user: User, day: dt.date) -> Names:
        scope = self.visits.roster.scope(user)
        tags = {t.name: t.name for t in self.visits.tags.tags}
        tags |= {a: t.name for t in self.visits.tags.tags for a in t.aliases}
        with self.db.read() as conn:
            rows = conn.execute(select(households.c.juwei, households.c.xiaoqu, users.c.username).distinct()
                                .join_from(households, users, users.c.id == households.c.worker_id, isouter=True)
                                .where(scope.clause(day))).all()
        tree = self.visits.regions.tree()
        regions: set[str] = set()
        for j, _, _ in rows:
            regions |= set(tree.lineage(j)) if j in tree else {j}
        juwei: dict[str, str] = {}
        for name in regions:
            juwei[name] = name
            base = _base(name)
            for form in {base, re.sub(r"(居委会|居委|居民区)$", "", base) + "居委",
                         re.sub(r"(居委会|居委|居民区)$", "", base) + "居委会", re.sub(r"街道$", "", base)}:
                if len(form) >= 3 and form not in juwei:
                    juwei[form] = name
        xiaoqu: dict[str, str] = {}
        bases = sorted({_base(x) for _, x, _ in rows if x})
        prefix = _common_prefix(bases)
        for _, x, _ in rows:
            if not x:
                continue
            xiaoqu[x] = x
            xiaoqu.setdefault(_base(x), x)
            short = _base(x)[len(prefix):]
            if prefix and len(short) >= 2:
                xiaoqu.setdefault(short, x)
        workers: dict[str, str] = {}
        usernames = {w for _, _, w in rows if w}
        forms = lexicon()["worker_forms"]
        for w in usernames:
            workers[w] = w
            tail = w[-2:]
            if tail[:1] in "小老大" and sum(1 for u in usernames if u.endswith(tail)) == 1:
                for form in forms:
                    workers.setdefault(form.format(tail=tail, surname=tail[1:]), w)
        return Names(tags, juwei, xiaoqu, workers)

    def ask(self, user: User, question: str, *, today: dt.date | None = None) -> AskResult:
        day = today or today_shanghai()
        user.require("visit")
        scope = self.visits.roster.scope(user)
        r = read(question, self.names(user, day), day)
        q = question.strip()[:200]
        if r.decline or not r.metric:
            if self.llm_allowed and not r.personal:
                return self._by_llm(user, scope, q, day, r.decline, r.nearest)
            return AskResult(q, True, reason=r.decline, nearest=r.nearest)
        fig = self.metrics.compute(r, scope, day)
        kind = KINDS[r.metric]
        unit = UNITS[r.metric]
        if r.metric == "method_share":
            answer = f"{r.text.removeprefix('按：')}：{round(100 * float(fig.value), 1)}%（{len(fig.ids)} 条）。"
        else:
            answer = f"{r.text.removeprefix('按：')}：{fig.value} {unit}。"
        self.visits.access.record(user, Access.READ, kind, fig.ids[:MAX_ITEMS], {"ask": r.metric, "count": len(fig.ids)})
        return AskResult(q, False, reading=r.text, metric=r.metric, value=fig.value, unit=unit, ids=fig.ids,
                         items=fig.items, answer=answer, definition=DEFINITIONS[r.metric], kind=kind)

    def _by_llm(self, user: User, scope: Any, question: str, day: dt.date, reason: str,
                nearest: list[str]) -> AskResult:
        """The model writes one SELECT over the views; it runs only if the checker allows it."""
        from app.rag.llm import prompt

        text = prompt(ASK_PROMPT).format(schema=schema_text(self.db.dialect), today=day.isoformat(),
                                         weekday="一二三四五六日"[day.weekday()], question=question)
        self.visits.access.record(user, Access.LLM_SEND, "ask", [], {"op": "ask_sql"})
        try:
            reply = str(self.llm.complete(text)).strip()
        except Exception as exc:  # the endpoint is down: the grammar's decline stands
            log.warning("ask-data LLM failed: %s", type(exc).__name__)
            return AskResult(question, True, reason=reason or "大模型暂时不可用。", nearest=nearest)
        reply = re.sub(r"^```(?:sql)?|```$", "", reply, flags=re.I | re.M).strip()
        if not reply or reply.upper().startswith("NONE"):
            return AskResult(question, True, reason="现有的走访数据回答不了这个问题。", nearest=nearest, by="llm")
        try:
            checked = check(reply, self.db.dialect)
            columns, rows = run(self.db, scope, checked, today=day)
        except ValidationError as exc:
            return AskResult(question, True, reason=f"大模型写的查询没有通过检查：{exc}", nearest=nearest, by="llm")
        self.visits.access.record(user, Access.READ, "ask", [], {"op": "ask_sql", "rows": len(rows)})
        return AskResult(question, False, reading="按：大模型写的查询（已检查，只读，只含您范围内的户）", by="llm",
                         sql=checked.sql, columns=columns, rows=[list(r) for r in rows],
                         answer=_table_answer(columns, rows), definition="见下方查询语句。")


def _table_answer(columns: list[str], rows: list[Any]) -> str:
    if len(rows) == 1 and len(columns) == 1:
        return f"{columns[0]}：{rows[0][0]}"
    return f"查到 {len(rows)} 行。"
