"""The 问数 set's reference: the expected figure and ids of one hand-written reading (``expect``),
computed from the raw rows.

Every table is read whole with a plain ``select(table)``; filtering, period arithmetic, tag alias
resolution (``knowledge/visit_tags.yaml`` read here, not through the product's TagBook) and counting
are plain Python below. Two things are the product's own rules and are reused on purpose: which
households the asking user may see (``visits.roster.scope(user).clause(today)``), and which 居委 lie
under a street (``visits.regions.below(name)``). Nothing here imports the parser
(``app.service.askdata``) or the dashboard.

An ``expect`` is ``{"metric": ..., "filters": {...}, "period": {...} | None}``; see README.md for the
口径 of each metric, filter and period.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from sqlalchemy import select

from app.service.tables import followups, households, users, visits

if TYPE_CHECKING:
    from app.service.accounts import User
    from app.service.db import ServiceDB
    from app.service.visits import Visits

ROOT = Path(__file__).resolve().parents[2]
TAGS_FILE = ROOT / "knowledge" / "visit_tags.yaml"

METRICS = ("households", "visited", "not_visited", "visits", "method_share", "open_followups", "urgent_open", "needs")
PERIOD_KINDS = ("today", "yesterday", "this_week", "last_week", "this_month", "last_month", "this_quarter",
                "last_quarter", "this_year", "last_n_days", "month")
METHODS = ("入户", "电话", "微信", "其他")
RISKS = ("正常", "关注", "紧急")
NEED_CATEGORIES = ("医疗健康", "生活照料", "经济困难", "住房与居住安全", "就业", "养老服务", "助残服务", "矛盾纠纷",
                   "政策咨询", "心理关爱", "其他")

HOUSEHOLD_FILTERS = frozenset({"tags", "juwei", "building", "xiaoqu", "worker"})
RECORD_FILTERS = frozenset({"method", "met", "risk", "need_category"})
ALLOWED_FILTERS: dict[str, frozenset[str]] = {
    "households": HOUSEHOLD_FILTERS,
    "visited": HOUSEHOLD_FILTERS,
    "not_visited": HOUSEHOLD_FILTERS,
    "visits": HOUSEHOLD_FILTERS | RECORD_FILTERS,
    "method_share": HOUSEHOLD_FILTERS | {"method"},  # the method is the share's numerator (required)
    "open_followups": HOUSEHOLD_FILTERS | {"older_than_days", "overdue"},
    "urgent_open": HOUSEHOLD_FILTERS,
    "needs": HOUSEHOLD_FILTERS | RECORD_FILTERS,
}
PERIODIC = frozenset({"visited", "not_visited", "visits", "method_share", "needs"})
"""Metrics over a period (this_month when the question names none); the others take none."""

DEFAULT_PERIOD: dict[str, Any] = {"kind": "this_month"}


@dataclass(frozen=True)
class Expected:
    metric: str
    value: int | float
    ids: tuple[int, ...]


@dataclass
class Tables:
    """The raw rows of the four tables the metrics read, as plain dicts."""

    households: list[dict[str, Any]] = field(default_factory=list)
    visits: list[dict[str, Any]] = field(default_factory=list)
    followups: list[dict[str, Any]] = field(default_factory=list)
    usernames: dict[int, str] = field(default_factory=dict)


def read_tables(db: ServiceDB) -> Tables:
    with db.read() as conn:
        return Tables(
            households=[dict(r) for r in conn.execute(select(households)).mappings()],
            visits=[dict(r) for r in conn.execute(select(visits)).mappings()],
            followups=[dict(r) for r in conn.execute(select(followups)).mappings()],
            usernames={int(r["id"]): str(r["username"]) for r in conn.execute(select(users)).mappings()},
        )


def tag_aliases(path: Path = TAGS_FILE) -> dict[str, str]:
    """Every tag name and alias → the tag's own name."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    out: dict[str, str] = {}
    for entry in data["tags"]:
        name = str(entry["name"]).strip()
        out[name] = name
        for alias in entry.get("aliases") or []:
            out[str(alias).strip()] = name
    return out


# -- periods ----------------------------------------------------------------------------------------

def _quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def _add_months(first: dt.date, months: int) -> dt.date:
    k = first.year * 12 + first.month - 1 + months
    return dt.date(k // 12, k % 12 + 1, 1)


def period_range(period: dict[str, Any], today: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day (both inclusive) of a period. Calendar periods are whole: this_week is
    Monday to Sunday, this_month the 1st to the last day, and so on; last_n_days N is today and the
    N-1 days before it."""
    kind = period.get("kind")
    if kind == "today":
        return today, today
    if kind == "yesterday":
        y = today - dt.timedelta(days=1)
        return y, y
    if kind in ("this_week", "last_week"):
        monday = today - dt.timedelta(days=today.weekday())
        if kind == "last_week":
            monday -= dt.timedelta(days=7)
        return monday, monday + dt.timedelta(days=6)
    if kind in ("this_month", "last_month"):
        first = today.replace(day=1)
        if kind == "last_month":
            first = _add_months(first, -1)
        return first, _month_end(first.year, first.month)
    if kind in ("this_quarter", "last_quarter"):
        first = _quarter_start(today)
        if kind == "last_quarter":
            first = _add_months(first, -3)
        last = _add_months(first, 3) - dt.timedelta(days=1)
        return first, last
    if kind == "this_year":
        return dt.date(today.year, 1, 1), dt.date(today.year, 12, 31)
    if kind == "last_n_days":
        n = period.get("n")
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"last_n_days needs a positive integer n, got {n!r}")
        return today - dt.timedelta(days=n - 1), today
    if kind == "month":
        m = re.fullmatch(r"(\d{4})-(\d{2})", str(period.get("month", "")))
        if not m or not 1 <= int(m.group(2)) <= 12:
            raise ValueError(f"month needs 'YYYY-MM', got {period.get('month')!r}")
        year, month = int(m.group(1)), int(m.group(2))
        return dt.date(year, month, 1), _month_end(year, month)
    raise ValueError(f"unknown period kind {kind!r}")


def _in(day_text: str, span: tuple[dt.date, dt.date]) -> bool:
    if not day_text:
        return False
    day = dt.date.fromisoformat(day_text[:10])
    return span[0] <= day <= span[1]


# -- checking an expect -------------------------------------------------------------------------------

def check_expect(expect: dict[str, Any]) -> None:
    """ValueError unless ``expect`` is a reading this reference can compute."""
    if not isinstance(expect, dict):
        raise ValueError(f"expect should be a dict or 'decline', got {expect!r}")
    unknown_keys = set(expect) - {"metric", "filters", "period"}
    if unknown_keys:
        raise ValueError(f"unknown keys in expect: {sorted(unknown_keys)}")
    metric = expect.get("metric")
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    filters = expect.get("filters") or {}
    extra = set(filters) - ALLOWED_FILTERS[metric]
    if extra:
        raise ValueError(f"filters {sorted(extra)} do not apply to {metric}")
    if metric == "method_share" and not filters.get("method"):
        raise ValueError("method_share needs filters.method (the share's method)")
    period = expect.get("period")
    if period is not None and metric not in PERIODIC:
        raise ValueError(f"{metric} takes no period")
    if period is not None:
        period_range(period, dt.date(2026, 12, 1))
    if "tags" in filters and (not isinstance(filters["tags"], list) or not filters["tags"]):
        raise ValueError("filters.tags should be a non-empty list")
    if "method" in filters and filters["method"] not in METHODS:
        raise ValueError(f"unknown method {filters['method']!r}")
    if "risk" in filters and filters["risk"] not in RISKS:
        raise ValueError(f"unknown risk {filters['risk']!r}")
    if "need_category" in filters and filters["need_category"] not in NEED_CATEGORIES:
        raise ValueError(f"unknown need category {filters['need_category']!r}")
    if "met" in filters and filters["met"] not in (0, 1, True, False):
        raise ValueError(f"met should be 0 or 1, got {filters['met']!r}")
    if "older_than_days" in filters:
        n = filters["older_than_days"]
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValueError(f"older_than_days should be a non-negative integer, got {n!r}")
    if "overdue" in filters and filters["overdue"] is not True:
        raise ValueError("overdue, when given, is true")


def _building(value: str) -> str:
    """'3', '3号楼', '3号', '3幢' and '3栋' are one building."""
    return re.sub(r"(号楼|号|幢|栋|楼)$", "", str(value).strip())


# -- the reference ------------------------------------------------------------------------------------

class Reference:
    """Expected answers over one records database (read afresh on every call)."""

    def __init__(self, db: ServiceDB, visits: Visits, tags_file: Path = TAGS_FILE) -> None:
        self.db = db
        self.visits = visits
        self.aliases = tag_aliases(tags_file)

    def scope_ids(self, user: User, today: dt.date) -> set[int]:
        """The households ``user`` may see on ``today``: the product's own scope rule."""
        clause = self.visits.roster.scope(user).clause(today)
        with self.db.read() as conn:
            return {int(r[0]) for r in conn.execute(select(households.c.id).where(clause))}

    def canonical_tag(self, name: str) -> str:
        try:
            return self.aliases[name.strip()]
        except KeyError:
            raise ValueError(f"unknown tag {name!r}") from None

    def _household_ok(self, h: dict[str, Any], filters: dict[str, Any], juwei_set: frozenset[str] | None) -> bool:
        """The household filters but the worker (whose meaning depends on the metric)."""
        checks = []
        if "tags" in filters:
            have = set(json.loads(h["tags_json"] or "[]"))
            checks.append(all(self.canonical_tag(t) in have for t in filters["tags"]))
        if juwei_set is not None:
            checks.append(h["juwei"] in juwei_set)
        if "building" in filters:
            checks.append(_building(h["building"]) == _building(filters["building"]))
        if "xiaoqu" in filters:
            checks.append(h["xiaoqu"].strip() == str(filters["xiaoqu"]).strip())
        return all(checks)

    @staticmethod
    def _record_ok(v: dict[str, Any], filters: dict[str, Any]) -> bool:
        if "method" in filters and v["method"] != filters["method"]:
            return False
        if "met" in filters and int(v["met"]) != int(filters["met"]):
            return False
        if "risk" in filters and v["risk"] != filters["risk"]:
            return False
        if "need_category" in filters:
            cats = [n.get("category") for n in json.loads(v["needs_json"] or "[]")]
            if filters["need_category"] not in cats:
                return False
        return True

    def expected(self, expect: dict[str, Any], user: User, today: dt.date) -> Expected:
        check_expect(expect)
        metric: str = expect["metric"]
        filters: dict[str, Any] = dict(expect.get("filters") or {})
        span = period_range(expect.get("period") or DEFAULT_PERIOD, today) if metric in PERIODIC else None
        t = read_tables(self.db)
        scope = self.scope_ids(user, today)
        juwei_set = self.visits.regions.below(filters["juwei"]) if "juwei" in filters else None
        worker = filters.get("worker")

        # households in scope that match the household filters (the worker filter comes later: it is
        # the assigned worker for household metrics and the visit's worker for record metrics)
        hh = {int(h["id"]): h for h in t.households
              if int(h["id"]) in scope and self._household_ok(h, filters, juwei_set)}

        if metric in ("households", "visited", "not_visited"):
            living = {hid for hid, h in hh.items() if h["status"] == "在住"
                      and (worker is None or t.usernames.get(h["worker_id"] or -1) == worker)}
            if metric == "households":
                return Expected(metric, len(living), tuple(sorted(living)))
            assert span is not None
            seen = {int(v["household_id"]) for v in t.visits
                    if v["method"] == "入户" and int(v["met"]) == 1 and _in(v["visited_on"], span)}
            ids = living & seen if metric == "visited" else living - seen
            return Expected(metric, len(ids), tuple(sorted(ids)))

        def by_worker(worker_id: Any) -> bool:
            return worker is None or t.usernames.get(int(worker_id) if worker_id is not None else -1) == worker

        if metric == "open_followups":
            visit_by_id = {int(v["id"]): v for v in t.visits}
            ids_f: list[int] = []
            for f in t.followups:
                v = visit_by_id.get(int(f["visit_id"]))
                if f["status"] != "open" or int(f["household_id"]) not in hh or v is None:
                    continue
                if not by_worker(v["worker_id"]):
                    continue
                if "older_than_days" in filters:
                    raised = dt.date.fromisoformat(v["visited_on"][:10])
                    if not (today - raised).days > int(filters["older_than_days"]):
                        continue
                if filters.get("overdue") and not (f["due_on"] and dt.date.fromisoformat(f["due_on"][:10]) < today):
                    continue
                ids_f.append(int(f["id"]))
            return Expected(metric, len(ids_f), tuple(sorted(ids_f)))

        if metric == "urgent_open":
            ids_u = sorted(int(v["id"]) for v in t.visits
                           if int(v["household_id"]) in hh and v["risk"] == "紧急" and not v["acknowledged_at"]
                           and by_worker(v["worker_id"]))
            return Expected(metric, len(ids_u), tuple(ids_u))

        # the record metrics over a period: visits, method_share, needs
        assert span is not None
        share_method = filters.pop("method") if metric == "method_share" else None
        records = [v for v in t.visits
                   if int(v["household_id"]) in hh and _in(v["visited_on"], span) and by_worker(v["worker_id"])
                   and self._record_ok(v, filters)]
        if metric == "visits":
            ids_v = sorted(int(v["id"]) for v in records)
            return Expected(metric, len(ids_v), tuple(ids_v))
        if metric == "method_share":
            of_method = sorted(int(v["id"]) for v in records if v["method"] == share_method)
            share = len(of_method) / len(records) if records else 0.0
            return Expected(metric, share, tuple(of_method))
        # needs
        category = filters.get("need_category")
        count = 0
        with_need: list[int] = []
        for v in records:
            entries = [n for n in json.loads(v["needs_json"] or "[]")
                       if category is None or n.get("category") == category]
            if entries:
                count += len(entries)
                with_need.append(int(v["id"]))
        return Expected(metric, count, tuple(sorted(with_need)))
