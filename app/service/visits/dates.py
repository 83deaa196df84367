"""Relative days in what a worker says ("明天", "下周三", "三天后", "月底", "下个月初"), resolved
against the day the note was written. Weeks begin on Monday, as on Chinese calendars.

>>> import datetime as dt
>>> d = dt.date(2026, 12, 1)  # a Tuesday
>>> [x.isoformat() for _, _, x in find_days("明天去 下周三再打 月底前送表", d)]
['2026-12-02', '2026-12-09', '2026-12-31']
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from app.core.text import cn_number

_WEEKDAY = {"一": 0, "1": 0, "二": 1, "2": 1, "三": 2, "3": 2, "四": 3, "4": 3, "五": 4, "5": 4, "六": 5, "6": 5,
            "日": 6, "天": 6, "末": 5, "7": 6}
NUM = r"(?:\d{1,3}|[零〇一二两俩三四五六七八九十]{1,3})"


def number(s: str) -> int:
    """'3', '三', '十二', '二十', '两' -> int (0 for anything else)."""
    return cn_number(s) or 0


def _add_months(d: dt.date, months: int, day: int) -> dt.date:
    y, m = divmod(d.month - 1 + months, 12)
    y, m = d.year + y, m + 1
    return dt.date(y, m, min(day, calendar.monthrange(y, m)[1]))


def _month_end(d: dt.date) -> dt.date:
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


_WEEK = r"(?:周|星期|礼拜)"
# (pattern, resolver(match, today) -> date, span); tried in this order at each position, longest first.
# A span ("月底", "两周内", "国庆后") is a deadline convention for a stretch of days, not one named day.
_RULES: list[tuple[re.Pattern[str], object, bool]] = []


def _rule(pattern: str, *, span: bool = False):  # type: ignore[no-untyped-def]
    def wrap(fn):  # type: ignore[no-untyped-def]
        _RULES.append((re.compile(pattern), fn, span))
        return fn
    return wrap


@_rule(rf"(?:下下个?{_WEEK})([一二三四五六日天末1-7])")
def _week_after_next(m: re.Match[str], d: dt.date) -> dt.date:
    return d - dt.timedelta(days=d.weekday()) + dt.timedelta(days=14 + _WEEKDAY[m.group(1)])


@_rule(rf"(?:下个?{_WEEK})([一二三四五六日天末1-7])")
def _next_week(m: re.Match[str], d: dt.date) -> dt.date:
    return d - dt.timedelta(days=d.weekday()) + dt.timedelta(days=7 + _WEEKDAY[m.group(1)])


@_rule(rf"(?:上个?{_WEEK})([一二三四五六日天末1-7])")
def _last_week(m: re.Match[str], d: dt.date) -> dt.date:
    return d - dt.timedelta(days=d.weekday()) + dt.timedelta(days=-7 + _WEEKDAY[m.group(1)])


@_rule(rf"(?:这个?|本){_WEEK}([一二三四五六日天末1-7])")
def _this_week(m: re.Match[str], d: dt.date) -> dt.date:
    return d - dt.timedelta(days=d.weekday()) + dt.timedelta(days=_WEEKDAY[m.group(1)])


@_rule(rf"{_WEEK}末")
def _weekend(m: re.Match[str], d: dt.date) -> dt.date:
    """A bare 周末: the Saturday of the current week."""
    return d - dt.timedelta(days=d.weekday()) + dt.timedelta(days=5)


@_rule(rf"{_WEEK}([一二三四五六日天末1-7])")
def _weekday(m: re.Match[str], d: dt.date) -> dt.date:
    """A bare 周五: the next one from today (today itself when it is that day)."""
    return d + dt.timedelta(days=(_WEEKDAY[m.group(1)] - d.weekday()) % 7)


@_rule(rf"({NUM})个?(?:星期|礼拜|周)(?:之?内|以内|后|之后)", span=True)
def _weeks(m: re.Match[str], d: dt.date) -> dt.date:
    return d + dt.timedelta(days=7 * number(m.group(1)))


@_rule(rf"({NUM})个?月(?:之?内|以内|后|之后)", span=True)
def _months_within(m: re.Match[str], d: dt.date) -> dt.date:
    return d + dt.timedelta(days=30 * number(m.group(1)))


@_rule(rf"({NUM})[天日](?:之?内|以内|后|之后|以后)|过({NUM})天")
def _days(m: re.Match[str], d: dt.date) -> dt.date:
    return d + dt.timedelta(days=number(m.group(1) or m.group(2)))


@_rule(r"过两天|过几天", span=True)
def _few_days(m: re.Match[str], d: dt.date) -> dt.date:
    return d + dt.timedelta(days=2 if "两" in m.group(0) else 3)


@_rule(rf"({NUM})月({NUM})[号日]")
def _month_day(m: re.Match[str], d: dt.date) -> dt.date:
    month, day = number(m.group(1)), number(m.group(2))
    try:
        out = dt.date(d.year, month, day)
    except ValueError:
        return d
    return out.replace(year=d.year + 1) if (d - out).days > 180 else out


@_rule(r"下个?月(?:初|头)", span=True)
def _next_month_start(m: re.Match[str], d: dt.date) -> dt.date:
    return _add_months(d, 1, 5)


@_rule(r"下个?月(?:底|末)", span=True)
def _next_month_end(m: re.Match[str], d: dt.date) -> dt.date:
    return _month_end(_add_months(d, 1, 1))


@_rule(r"下个?月(?:中|中旬)", span=True)
def _next_month_mid(m: re.Match[str], d: dt.date) -> dt.date:
    return _add_months(d, 1, 15)


@_rule(r"下个月|下月", span=True)
def _next_month(m: re.Match[str], d: dt.date) -> dt.date:
    return _add_months(d, 1, 1)


@_rule(r"(?:这个月|本月)?(?:月底|月末)", span=True)
def _month_end_rule(m: re.Match[str], d: dt.date) -> dt.date:
    return _month_end(d)


@_rule(r"(?:这个月|本月)?月中", span=True)
def _mid_month(m: re.Match[str], d: dt.date) -> dt.date:
    mid = d.replace(day=15)
    return mid if mid >= d else _add_months(d, 1, 15)


@_rule(r"年底|年末|元旦前|元旦之前", span=True)
def _year_end(m: re.Match[str], d: dt.date) -> dt.date:
    return dt.date(d.year, 12, 31)


@_rule(r"国庆(?:节)?(?:后|之后|以后)", span=True)
def _after_national_day(m: re.Match[str], d: dt.date) -> dt.date:
    out = dt.date(d.year, 10, 8)
    return out if out >= d - dt.timedelta(days=30) else dt.date(d.year + 1, 10, 8)


@_rule(rf"(?<![月\d零〇一二两三四五六七八九十])({NUM})[号日](?![子期楼室栋幢门弄床])")
def _day_of_month(m: re.Match[str], d: dt.date) -> dt.date:
    day = number(m.group(1))
    if not 1 <= day <= 31:
        return d
    try:
        out = d.replace(day=day)
    except ValueError:
        return _month_end(d)
    return out if out >= d else _add_months(d, 1, day)


@_rule(r"大后天")
def _in_three(m: re.Match[str], d: dt.date) -> dt.date:
    return d + dt.timedelta(days=3)


@_rule(r"后天")
def _in_two(m: re.Match[str], d: dt.date) -> dt.date:
    return d + dt.timedelta(days=2)


@_rule(r"明天|明日|明早|明儿")
def _tomorrow(m: re.Match[str], d: dt.date) -> dt.date:
    return d + dt.timedelta(days=1)


@_rule(r"大前天")
def _three_ago(m: re.Match[str], d: dt.date) -> dt.date:
    return d - dt.timedelta(days=3)


@_rule(r"前天")
def _two_ago(m: re.Match[str], d: dt.date) -> dt.date:
    return d - dt.timedelta(days=2)


@_rule(r"昨天|昨日|昨晚|昨儿")
def _yesterday(m: re.Match[str], d: dt.date) -> dt.date:
    return d - dt.timedelta(days=1)


@_rule(rf"今天|今日|今早|今儿|今晚|当天|等一?下|晚点|晚些|现在|马上|下午|晚上|待会儿?|半个?小时|{NUM}(?:分钟|个?小时)")
def _today(m: re.Match[str], d: dt.date) -> dt.date:
    return d


@_rule(rf"({NUM})天前")
def _days_ago(m: re.Match[str], d: dt.date) -> dt.date:
    return d - dt.timedelta(days=number(m.group(1)))


# A part of the day right after a named day belongs to it: "昨天晚上" is yesterday, not also tonight.
_PART_OF_DAY = re.compile(r"(?:上午|下午|中午|晚上|早上|傍晚|夜里头?|半夜|凌晨|一早)")


def find_days(text: str, today: dt.date) -> list[tuple[int, int, dt.date]]:
    """Every day expression in ``text`` as (start, end, day), left to right, none overlapping.

    >>> [(s, e, x.isoformat()) for s, e, x in find_days("昨天晚上她问", dt.date(2026, 11, 5))]
    [(0, 4, '2026-11-04')]
    """
    found: list[tuple[int, int, dt.date]] = []
    claimed: list[tuple[int, int]] = []  # every matched stretch, including spans read as attributes
    for pattern, fn, span in _RULES:
        for m in pattern.finditer(text):
            end = m.end()
            if fn is not _today and (part := _PART_OF_DAY.match(text, end)):
                end = part.end()
            if any(s < end and m.start() < e for s, e in claimed):
                continue
            claimed.append((m.start(), end))
            if span and text.startswith("的", end):
                continue  # "年底的慰问品", "下个月的药": it describes a thing, it sets no deadline
            found.append((m.start(), end, fn(m, today)))  # type: ignore[operator]
    return sorted(found)


def is_span(word: str) -> bool:
    """Whether a day expression names a stretch of days by convention ("月底", "两周内", "国庆后") rather
    than one day ("昨天", "下周三"): a span can be a deadline but not the day a visit took place.

    >>> is_span("国庆后"), is_span("前天")
    (True, False)
    """
    return any(span and pattern.fullmatch(word) for pattern, _fn, span in _RULES)


# What a day expression is doing in a note, read from the words around it (:func:`read_dates`).
VISIT = "visit"  # the day of this visit or call ("昨天下午去的")
PAST = "past"  # an event behind us ("前天摔了一跤", "礼拜六以后就没看见过她")
NOW = "now"  # a same-day word that describes rather than schedules ("现在好了", "晚上睡不着")
PLAN = "plan"  # someone's whereabouts or a scheduled event, no task by itself ("下周二才回来", "下周一社区有体检")
DEADLINE = "deadline"  # the day a follow-up is due ("明天送过去", "月底前办好", "等下过去")


@dataclass(frozen=True)
class DateWords:
    """The small vocabulary the role reader needs, kept as data in ``capture_rules.yaml`` (``date_roles``)."""

    visit_verbs: re.Pattern[str]  # right after a past day, before any other visit verb: the visit's own day
    reported: re.Pattern[str]  # before a day in its clause: someone else's account ("她讲前天夜里头摔到了")
    again_today: re.Pattern[str]  # "今天又去了一次": a later visit today is this record's
    past_event: re.Pattern[str]  # after a bare weekday or day of month: it lies behind
    away: re.Pattern[str]  # someone comes back or goes out: whereabouts, not a task
    event: re.Pattern[str]  # right after the day: a scheduled event ("有个手工活动")
    same_day: re.Pattern[str]  # a same-day word that can schedule ("等下", "晚点", "下午")
    actions: re.Pattern[str]  # a future action after a same-day word ("再", "过去", "送")
    tasks: re.Pattern[str]  # a task word that makes whereabouts a task after all ("再来", "看看")
    done: re.Pattern[str]  # already done ("已经", "了")


@dataclass(frozen=True)
class DateMention:
    start: int
    end: int
    day: dt.date
    role: str


# A weekday or day of month said without 这/下/上 points either way; a past-event word after it turns it back.
_BARE = re.compile(rf"{_WEEK}[一二三四五六日天1-7]|(?<![月\d])(?:{NUM})[号日]")
_VISIT_VERB_REACH = 8  # a visit verb follows the visit's own day within these characters ("昨天下午去的")
VISIT_LOOKBACK = 14  # days back a visit's own day may lie ("上周五去的")


def _back(word: str, day: dt.date, today: dt.date) -> dt.date:
    """The same bare weekday or day of month, but the one before today."""
    if re.search(r"[号日]$", word):
        back = _add_months(day, -1, day.day) if day.month != today.month or day > today else day
        return back if back < today else _add_months(back, -1, back.day)
    return day - dt.timedelta(days=7) if day >= today else day


def read_dates(text: str, today: dt.date, spans: list[tuple[int, int]], words: DateWords) -> list[DateMention]:
    """Every day expression in ``text`` with the role the words around it give it (clauses are ``spans``).

    A past day is the visit's own day when it comes before the note's first visit verb and that verb
    follows it closely ("昨天下午去的", "今天补记 前天上午去的"), not inside someone's account; else a past event.
    A later day is a deadline unless it only says where someone is (``away``) or names a scheduled event
    (``event``). A same-day word is a deadline only
    before an action not yet done, outside the opening clause.

    >>> w = DateWords(*(re.compile(p) for p in ("去", "说", "今天又去", ".{0,4}以后就没", "回来", "有", "晚点", "再|去",
    ...                                           "再来", "已经|了")))
    >>> t = "前天去的 礼拜六以后就没看见过她 他下周二才回来 晚点再打 月底前送过去"
    >>> sp = [(0, 4), (5, 16), (17, 24), (25, 29), (30, 36)]
    >>> [(t[m.start:m.end], m.day.isoformat(), m.role) for m in read_dates(t, dt.date(2026, 12, 3), sp, w)]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('前天', '2026-12-01', 'visit'), ('礼拜六', '2026-11-28', 'past'), ('下周二', '2026-12-08', 'plan'),
     ('晚点', '2026-12-03', 'deadline'), ('月底', '2026-12-31', 'deadline')]
    """
    def clause(pos: int) -> tuple[int, int]:
        return next(((s, e) for s, e in spans if s <= pos < e), (0, len(text)))

    out: list[DateMention] = []
    visit: int | None = None
    first_verb = m.start() if (m := words.visit_verbs.search(text)) else len(text)  # the note's first contact
    for s, e, day in find_days(text, today):
        cs, ce = clause(s)
        word, here = text[s:e], text[cs:ce]
        away = bool(words.away.search(here)) and not words.tasks.search(here)
        if day > today and _BARE.fullmatch(word) and words.past_event.match(text, e, ce):
            day = _back(word, day, today)  # "礼拜六以后就没看见过她", "周一去了她家": the one behind us
        if day < today:
            role = PAST
            # the visit's own day governs the note's first visit verb and is not inside someone's account
            if (visit is None and s < first_verb and today - dt.timedelta(days=VISIT_LOOKBACK) <= day
                    and not is_span(word) and words.visit_verbs.search(text, e, e + _VISIT_VERB_REACH)
                    and not words.reported.search(text, cs, s)):
                role, visit = VISIT, len(out)
        elif day == today:
            scheduled = (cs > 0 and words.same_day.match(text, s) and not away
                         and words.actions.search(text, s, ce) and not words.done.search(text, s, ce))
            role = DEADLINE if scheduled else NOW
            if visit is not None and words.again_today.match(text, s):
                out[visit] = DateMention(out[visit].start, out[visit].end, out[visit].day, PAST)
                role, visit = VISIT, len(out)  # "前天去了 没人 今天又去了一次": the latest visit is this record's
        elif away or (words.event.match(text, e) and not words.actions.search(text, e, ce)):
            role = PLAN
        else:
            role = DEADLINE
        out.append(DateMention(s, e, day, role))
    return out
