"""How a plain question is read: a metric, its filters and a period, or a reason to decline.

The vocabulary is data (``lexicon.yaml``); the names a question may use — tags and their aliases,
居委 and streets, 小区, buildings, workers — come from the roster the asker can see. The reading is
deliberately narrow: a question that names no metric, or names two it cannot tell apart, is
declined with the nearest thing it can answer, never guessed.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from app.core.text import cn_number

LEXICON = Path(__file__).with_name("lexicon.yaml")
MAX_QUESTION = 200

METRIC_NAMES = {
    "households": "户数", "visited": "已入户走访的户", "not_visited": "未入户走访的户", "visits": "走访记录条数",
    "method_share": "走访方式占比", "open_followups": "未关闭的跟进", "urgent_open": "未确认的紧急记录",
    "needs": "诉求条数",
}
_UNIT_DAYS = {"天": 1, "日": 1, "周": 7, "个星期": 7, "星期": 7, "个礼拜": 7, "礼拜": 7, "个月": 30}


@dataclass(frozen=True)
class Period:
    kind: str
    start: dt.date
    end: dt.date
    label: str


@dataclass
class Reading:
    metric: str = ""
    filters: dict[str, Any] = field(default_factory=dict)
    period: Period | None = None
    decline: str = ""
    personal: bool = False  # asked for a person's details: never passed on to an LLM either
    nearest: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        bits = ([self.period.label] if self.period else []) + self.labels + [METRIC_NAMES.get(self.metric, "")]
        return "按：" + " · ".join(b for b in bits if b)


@dataclass(frozen=True)
class Names:
    """What the asker's roster calls things: tag (or alias) -> tag, region -> its name, and so on."""

    tags: dict[str, str]
    juwei: dict[str, str]
    xiaoqu: dict[str, str]
    workers: dict[str, str]


@lru_cache(maxsize=4)
def lexicon(path: Path = LEXICON) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def normalise(question: str, lex: dict[str, Any]) -> str:
    q = unicodedata.normalize("NFKC", question)
    q = re.sub(r"[\s,，。？?！!、：:；;“”\"'（）()…~～]+", "", q)
    for wrong, right in lex["homophones"].items():
        q = q.replace(wrong, right)
    return q


def _period(today: dt.date, kind: str, m: re.Match[str] | None) -> Period:
    def month_span(y: int, mo: int) -> tuple[dt.date, dt.date]:
        start = dt.date(y, mo, 1)
        nxt = dt.date(y + (mo == 12), mo % 12 + 1, 1)
        return start, nxt - dt.timedelta(days=1)

    if kind == "today":
        return Period(kind, today, today, "今天")
    if kind == "yesterday":
        yesterday = today - dt.timedelta(days=1)
        return Period(kind, yesterday, yesterday, "昨天")
    if kind in ("this_week", "last_week"):
        start = today - dt.timedelta(days=today.weekday()) - dt.timedelta(days=7 * (kind == "last_week"))
        return Period(kind, start, start + dt.timedelta(days=6), "本周" if kind == "this_week" else "上周")
    if kind in ("this_month", "last_month"):
        y, mo = today.year, today.month
        if kind == "last_month":
            y, mo = (y - 1, 12) if mo == 1 else (y, mo - 1)
        s, e = month_span(y, mo)
        return Period(kind, s, e, "本月" if kind == "this_month" else "上月")
    if kind in ("this_quarter", "last_quarter"):
        q = (today.month - 1) // 3
        y = today.year
        if kind == "last_quarter":
            y, q = (y - 1, 3) if q == 0 else (y, q - 1)
        s = dt.date(y, 3 * q + 1, 1)
        e = month_span(y, 3 * q + 3)[1]
        return Period(kind, s, e, "本季度" if kind == "this_quarter" else "上季度")
    if kind == "this_year":
        return Period(kind, dt.date(today.year, 1, 1), dt.date(today.year, 12, 31), "今年")
    assert m is not None
    if kind == "last_n_days":
        n = (cn_number(m.group("n")) or 0) * _UNIT_DAYS[m.group("unit")]
        return Period(kind, today - dt.timedelta(days=max(n, 1) - 1), today, f"近{n}天")
    mo = cn_number(m.group("m")) or 0
    y = int(m.group("year")) if m.group("year") else (today.year if mo <= today.month else today.year - 1)
    s, e = month_span(y, mo)
    return Period("month", s, e, f"{y}年{mo}月")


def _first(patterns: dict[str, str], q: str) -> tuple[str, re.Match[str]] | None:
    best: tuple[int, str, re.Match[str]] | None = None
    for key, pat in patterns.items():
        m = re.search(pat, q)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), key, m)
    return (best[1], best[2]) if best else None


def _names_in(q: str, names: dict[str, str]) -> tuple[list[str], str]:
    """Every known name in ``q``, longest first, each taken out of the text once found."""
    found: list[str] = []
    for key in sorted(names, key=len, reverse=True):
        if key and key in q:
            if names[key] not in found:
                found.append(names[key])
            q = q.replace(key, "□")
    return found, q


def read(question: str, names: Names, today: dt.date) -> Reading:
    lex = lexicon()
    r = Reading()
    q = normalise(question, lex)
    if not q:
        r.decline = "请输入一个关于走访数据的问题。"
        return r
    if len(q) > MAX_QUESTION:
        r.decline = f"问题太长了（{len(q)} 字），请用一句话问一个数字，{MAX_QUESTION} 字以内。"
        return r
    for d in lex["declines"]:
        if re.search(d["pattern"], q):
            r.decline = d["reason"]
            r.personal = bool(d.get("personal"))
            r.nearest = _nearest(q, lex)
            return r

    q = re.sub(lex["not_a_filter"], "", q)
    q = re.sub(lex["not_a_period"], "", q)
    # names from the roster first, so that 重点关注 is a tag and not the 关注 risk
    tags, q = _names_in(q, names.tags)
    juwei, q = _names_in(q, names.juwei)
    xiaoqu, q = _names_in(q, names.xiaoqu)
    workers, q = _names_in(q, names.workers)
    building = None
    m = re.search(r"([0-9]+|[一二三四五六七八九十]+)(?:号楼|号|栋|幢)", q)
    if m:
        building = str(cn_number(m.group(1)))
        q = q[:m.start()] + "□" + q[m.end():]

    period = None
    for p in lex["periods"]:
        pm = re.search(p["pattern"], q)
        if pm:
            period = _period(today, p["kind"], pm)
            q = q[:pm.start()] + "□" + q[pm.end():]
            break

    c = lex["cues"]
    has = {k: re.search(v, q) for k, v in c.items()}
    metric = ""
    if has["followup"]:
        metric = "open_followups"
    elif has["urgent"] and has["unconfirmed"]:
        metric = "urgent_open"
    elif has["needs"] and not has["needs_as_filter"]:
        metric = "needs"
    elif has["share"]:
        metric = "method_share"
    elif has["count_events"] and not has["count_households"] and (has["visit_event"] or _first(lex["met"], q)):
        metric = "visits"  # "几次", "几条": records, even of visits that missed ("扑空没见着的有几次")
    elif has["not_visited"]:
        metric = "not_visited"
    elif has["count_events"] and (has["visit_event"] or has["urgent"]):
        metric = "visits"
    elif has["visited"]:
        metric = "visited"
    elif has["count_households"] or re.search(r"户|家", q):
        metric = "households" if not has["visit_event"] else ""
    if not metric:
        r.decline = "没有读懂要统计什么。"
        r.nearest = _nearest(q, lex)
        return r
    r.metric = metric

    f = r.filters
    if tags:
        f["tags"] = tags
        r.labels.append("、".join(tags))
    if juwei:
        f["juwei"] = juwei[0]
        r.labels.append(juwei[0])
    if xiaoqu:
        f["xiaoqu"] = xiaoqu[0]
        r.labels.append(xiaoqu[0])
    if building:
        f["building"] = building
        r.labels.append(f"{building}号楼")
    if workers:
        f["worker"] = workers[0]
        r.labels.append(workers[0])

    if metric == "open_followups":
        older = re.search(c["followup_older"], q) or re.search(c["followup_older_after"], q)
        if older:
            f["older_than_days"] = (cn_number(older.group("n")) or 0) * _UNIT_DAYS[older.group("unit")]
            r.labels.append(f"提出超过{f['older_than_days']}天")
        if has["followup_overdue"]:
            f["overdue"] = True
            r.labels.append("已过期限")
        period = None
    elif metric in ("urgent_open", "households"):
        period = None
    else:
        method = _first(lex["methods"], q)
        if metric == "method_share":
            if not method:
                r.metric = ""
                r.decline = "要算哪种走访方式的占比？请说明是入户、电话还是微信。"
                r.nearest = ["这个月电话走访占多少？", "这个月入户走访占多少？"]
                return r
            f["method"] = method[0]
            r.labels.append(method[0])
        elif metric in ("visits", "needs"):
            if method:
                f["method"] = method[0]
                r.labels.append(method[0])
            met = _first(lex["met"], q)
            if met:
                f["met"] = int(met[0])
                r.labels.append("见到人" if met[0] == "1" else "未遇")
            risk = _first(lex["risks"], q)
            if risk:
                f["risk"] = risk[0]
                r.labels.append(risk[0])
            cat = _category(q, lex)
            if cat:
                f["need_category"] = cat
                r.labels.append(cat)
        if period is None:
            period = _period(today, "this_month", None)
    r.period = period
    return r


def _category(q: str, lex: dict[str, Any]) -> str:
    for name, pat in lex["need_categories"].items():
        if name in q or re.search(pat, q):
            return name
    return ""


def _nearest(q: str, lex: dict[str, Any]) -> list[str]:
    """Questions it can answer that are near this one, to offer instead."""
    c = lex["cues"]
    if re.search(c["followup"], q):
        return ["现在还没关闭的跟进有几条？", "过了期限还没关的跟进有哪些？"]
    if re.search(c["needs"], q):
        return ["这个月居民提了多少条诉求？"]
    if re.search(c["visit_event"], q):
        return ["这个月入户见到人的有几户？", "上个月哪些高龄老人一次都没走访到？", "这个季度电话走访占多少？"]
    return ["高龄老人有几户？", "这个月入户见到人的有几户？", "现在还没关闭的跟进有几条？"]
