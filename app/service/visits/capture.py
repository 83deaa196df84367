"""Quick capture (快速记录): one free-text note, typed or dictated, drafted into a visit record
offline. The worker confirms or edits the draft before anything is saved.

What it reads, by rules kept as data (``capture_rules.yaml``): the visit's day ("昨天下午去的"),
the method (入户, 电话, 微信, 其他) and whether anyone was met (未遇), risk signs and whether each is
negated ("没有摔倒") or only feared ("怕她摔倒"), concerns, needs by category, follow-ups with
their deadlines resolved ("下周三前" -> a date), and a referral. The note is data: nothing in it is
followed as an instruction, it is only matched against these rules.

>>> import datetime as dt
>>> d = draft_record("去了王阿姨家 她说前天摔了一跤腿还疼 明天帮她联系社区医生", dt.date(2026, 12, 1))
>>> d.risk, d.risk_signs, d.followups[0]["due_on"]
('紧急', ['摔倒'], '2026-12-02')
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from app.service.visits.dates import DEADLINE, PLAN, VISIT, DateWords, find_days, read_dates

RULES_FILE = Path(__file__).with_name("capture_rules.yaml")
MAX_NOTE = 5000
_WINDOW_BEFORE = 4  # characters before a sign where a negator counts
_WINDOW_AFTER = 10  # characters after a sign where "没问题" etc. count
_PAST_BEFORE = 10  # characters before a sign where "上次" marks it as past
_RESOLVED_AFTER = 40  # ... and after it, where "现在好了" says it is over
_SCOPE_BEFORE = 12  # characters before a sign, within its clause, where "怕", "以为", "没有" count
_ALARM_AFTER = 60  # characters after a sign where "虚惊一场" / "误报" calls it a false alarm
_REINTERPRET_AFTER = 24  # ... where "其实是" / "后来才知道" says it was something else
# How a mention of a sign reads: current, or one of the ways it is not.
CURRENT, DENIED, FEARED, PRECAUTION, PAST, ELSEWHERE = "", "denied", "feared", "precaution", "past", "elsewhere"
_CORRECTION_REACH = 16  # characters from the first day to the correction word
_CORRECTION_TAIL = 3  # characters from the correction word to the new day ("不对 我下个礼拜三")


@dataclass
class Draft:
    visited_on: str
    method: str
    met: bool
    risk: str
    risk_signs: list[str] = field(default_factory=list)
    negated_signs: list[str] = field(default_factory=list)
    concerns: list[str] = field(default_factory=list)
    needs: list[dict[str, str]] = field(default_factory=list)
    followups: list[dict[str, Any]] = field(default_factory=list)
    referral: str = ""
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Rules:
    fillers: re.Pattern[str]
    breaks: re.Pattern[str]
    methods: tuple[tuple[str, re.Pattern[str]], ...]
    future: re.Pattern[str]
    not_met: re.Pattern[str]
    reached: re.Pattern[str]
    not_met_other: re.Pattern[str]
    signs: tuple[tuple[str, re.Pattern[str]], ...]
    negate_before: re.Pattern[str]
    negate_in_clause: re.Pattern[str]
    feared: re.Pattern[str]
    negate_after: re.Pattern[str]
    past: re.Pattern[str]
    resolved: re.Pattern[str]
    concerns: re.Pattern[str]
    needs: tuple[tuple[str, re.Pattern[str]], ...]
    sign_needs: tuple[tuple[str, str], ...]
    need_cues: re.Pattern[str]
    followup_cues: re.Pattern[str]
    referral_cues: re.Pattern[str]
    referral_targets: re.Pattern[str]
    referral_self: re.Pattern[str]
    dates: DateWords
    corrections: re.Pattern[str]
    loose_corrections: re.Pattern[str]
    then_words: re.Pattern[str]
    false_alarm: re.Pattern[str]
    precaution: re.Pattern[str]
    reinterpret: re.Pattern[str]
    elsewhere: re.Pattern[str]


def _alt(words: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{w})" for w in sorted(words, key=len, reverse=True)))


@functools.cache
def load_rules(path: Path = RULES_FILE) -> Rules:
    d = yaml.safe_load(path.read_text(encoding="utf-8"))
    roles = d["date_roles"]
    return Rules(
        fillers=_alt(d["fillers"]), breaks=_alt(d["clause_breaks"]),
        methods=tuple((k, _alt(v)) for k, v in d["methods"].items()), future=_alt(d["future_markers"]),
        not_met=_alt(d["not_met"]), reached=_alt(d["reached"]), not_met_other=_alt(d["not_met_other"]),
        signs=tuple((k, _alt(v)) for k, v in d["risk_signs"].items()),
        negate_before=re.compile(f"(?:{_alt(d['negate_before']).pattern})$"),
        negate_in_clause=_alt(d["negate_in_clause"]), feared=_alt(d["feared"]),
        negate_after=_alt(d["negate_after"]), past=_alt(d["past_markers"]),
        resolved=_alt(d["resolved"] + d["negate_after"]), concerns=_alt(d["concerns"]),
        needs=tuple((k.split("_")[0], _alt(v)) for k, v in d["needs"].items()), need_cues=_alt(d["need_cues"]),
        sign_needs=tuple(d["sign_needs"].items()),
        followup_cues=_alt(d["followup_cues"]), referral_cues=_alt(d["referral_cues"]),
        referral_targets=_alt(d["referral_targets"]), referral_self=_alt(d["referral_self"]),
        dates=DateWords(
            visit_verbs=_alt(roles["visit_verbs"]), reported=_alt(roles["reported"]),
            again_today=_alt(roles["again_today"]),
            past_event=_alt(roles["past_event"]), away=_alt(roles["away"]), event=_alt(roles["event"]),
            same_day=_alt(roles["same_day"]), actions=_alt(roles["actions"]), tasks=_alt(d["followup_cues"]),
            done=_alt(roles["done"])),
        corrections=_alt(roles["corrections"]), loose_corrections=_alt(roles["loose_corrections"]),
        then_words=_alt(d["then_words"]),
        false_alarm=_alt(d["false_alarm"]), precaution=_alt(d["precaution"]), reinterpret=_alt(d["reinterpret"]),
        elsewhere=_alt(d["elsewhere"]),
    )


def _normalise(note: str) -> str:
    s = unicodedata.normalize("NFKC", note)[:MAX_NOTE]
    s = re.sub(r"[\r\n\t]+", "，", s)
    return s.strip()


def clauses(text: str, rules: Rules) -> list[tuple[int, str]]:
    """(offset, clause): split at punctuation, runs of spaces and spoken connectives."""
    out: list[tuple[int, str]] = []
    start = 0
    cuts = sorted({m.start() for m in re.finditer(r"[，,。.；;！!？?、\s]+", text)}
                  | {m.start() for m in rules.breaks.finditer(text)})
    for cut in [*cuts, len(text)]:
        piece = text[start:cut]
        stripped = piece.strip(" ，,。.；;！!？?、")
        if stripped:
            out.append((start + piece.find(stripped[0]), stripped))
        start = cut
        while start < len(text) and text[start] in " ，,。.；;！!？?、\t":
            start += 1
    return out


def _mention(text: str, start: int, end: int, rules: Rules, clause_span: tuple[int, int], *,
             inside: bool = True) -> str:
    """How one mention reads: CURRENT (""), DENIED ("没有摔倒", "不是晕倒", "煤气检查过没问题", "以为…其实",
    "虚惊一场"), FEARED ("怕她摔倒", "差点晕倒"), PRECAUTION ("预防跌倒"), ELSEWHERE ("隔壁楼着火", "电视里说老人走失"), or PAST and over
    ("上个月摔到的那个腰 现在好了")."""
    before = text[max(clause_span[0], start - _WINDOW_BEFORE):start]
    scope = text[max(clause_span[0], start - _SCOPE_BEFORE):start]
    after = text[end:min(clause_span[1], end + _WINDOW_AFTER)]
    if rules.feared.search(scope) or (inside and rules.feared.search(text, start, end)):
        # a fear said before the sign, or taken in by a wide match ("出门怕找不到")
        return FEARED
    if rules.precaution.search(scope):  # "防走失的手环", "预防跌倒装了扶手"
        return PRECAUTION
    if rules.negate_before.search(before) or rules.negate_after.search(after) or rules.negate_in_clause.search(scope):
        return DENIED
    if rules.elsewhere.search(scope):
        return ELSEWHERE
    if rules.false_alarm.search(text, end, end + _ALARM_AFTER) or rules.reinterpret.search(
            text, end, end + _REINTERPRET_AFTER):
        return DENIED
    if rules.past.search(text, max(0, start - _PAST_BEFORE), start) and rules.resolved.search(
            text, end, end + _RESOLVED_AFTER):
        return PAST
    return CURRENT


def _negated(text: str, start: int, end: int, rules: Rules, clause_span: tuple[int, int], *,
             inside: bool = True) -> bool:
    """Whether a mention is not a current sign (see :func:`_mention`)."""
    return _mention(text, start, end, rules, clause_span, inside=inside) != CURRENT


def _drop_corrections(text: str, today: dt.date, rules: Rules) -> str:
    """"周三 不对 周四" -> "周四": a day the speaker took back is not read.

    A day taken back a few words later ("明天一早约派出所一起上门 不对 今天下午就去", "8号 不对 我下个礼拜三再去") is
    dropped with the correction itself; the words between stay.

    >>> _drop_corrections("我明天一早上门 不对 今天下午就去", dt.date(2026, 12, 1), load_rules())
    '我上门 今天下午就去'
    """
    days = find_days(text, today)
    for (s1, e1, _), (s2, _e2, _) in zip(days[::-1][1:], days[::-1], strict=False):
        gap = text[e1:s2]
        if rules.corrections.fullmatch(gap):
            text = text[:s1] + text[s2:]
            continue
        m = rules.loose_corrections.search(gap)
        if m and len(gap) - m.end() <= _CORRECTION_TAIL and m.start() <= _CORRECTION_REACH:
            text = text[:s1] + text[e1:e1 + m.start()] + " " + text[e1 + m.end():]
    return text


def _clean(clause: str, rules: Rules) -> str:
    return rules.fillers.sub("", clause).strip(" ，,")


def draft_record(note: str, today: dt.date, *, rules: Rules | None = None) -> Draft:
    """The structured record a note describes, for the worker to confirm."""
    rules = rules or load_rules()
    original = _normalise(note)
    text = _drop_corrections(original, today, rules)
    parts = clauses(text, rules)
    spans = [(o, o + len(c)) for o, c in parts]

    def span_of(pos: int) -> tuple[int, int]:
        return next(((s, e) for s, e in spans if s <= pos < e), (0, len(text)))

    # Every day expression with its role (dates.read_dates): the visit's own day, a past event, a deadline …
    marks = read_dates(text, today, spans, rules.dates)
    visited = next((m.day for m in marks if m.role == VISIT), today)

    # Method: the first cue that is not part of something to do later.
    method, first = "入户", len(text) + 1
    for name, pat in rules.methods:
        for m in pat.finditer(text):
            lead = text[max(span_of(m.start())[0], m.start() - 4):m.start()]
            if rules.future.search(lead) or (name == "电话" and _third_party_call(text, m, rules, span_of(m.start())[0])):
                continue
            if m.start() < first:
                method, first = name, m.start()
            break
    met = True
    for m in rules.not_met.finditer(text):
        cs, ce = span_of(m.start())
        lead = text[max(cs, m.start() - 4):m.start()]
        # "前两天联系不上 ... 今天回来了": an earlier miss, not this contact's
        earlier = (any(cs <= x.start < ce and x.start < m.start() and x.day < visited for x in marks)
                   or bool(rules.past.search(text, cs, m.start())))
        other = bool(rules.not_met_other.search(lead))  # "今天老头子出去了": someone else is out
        if not rules.future.search(lead) and not earlier and not other:
            # "敲门没人开 … 开门一看 她在睡觉", "他没接 然后打给他女儿": reached after all
            met = bool(rules.reached.search(text, m.end()))
            break

    # Each sign's mentions in order; the sign is current when a mention is, unless a later mention
    # flatly denies it ("说她爸昨天晕倒了 … 不是晕倒", "以前会打她 … 这次没有被打"): the speaker corrected it.
    mentions: dict[str, list[tuple[int, str]]] = {}
    for name, pat in rules.signs:
        for m in pat.finditer(text):
            kind = _mention(text, m.start(), m.end(), rules, span_of(m.start()))
            mentions.setdefault(name, []).append((m.start(), kind))
    signs: list[str] = []
    negated: list[str] = []
    feared: list[str] = []  # only feared or narrowly missed ("怕她摔倒", "差点晕倒"): still a concern
    for name, _pat in rules.signs:
        kinds = [k for _p, k in mentions.get(name, [])]
        if not kinds:
            continue
        current = [i for i, k in enumerate(kinds) if k == CURRENT]
        if current and not any(k == DENIED for k in kinds[current[-1] + 1:]):
            signs.append(name)
            continue
        negated.append(name)
        # a fear the speaker then checked and denied ("怕是家里着火了 … 不是着火") is not left as a concern
        fears = [i for i, k in enumerate(kinds) if k == FEARED]
        if fears and not any(k == DENIED for k in kinds[fears[-1] + 1:]):
            feared.append(name)
    concerns = []
    for m in rules.concerns.finditer(text):
        cut = _negated(text, m.start(), m.end(), rules, span_of(m.start()), inside=False)
        if not cut and m.group(0) not in concerns:
            concerns.append(m.group(0))
    risk = "紧急" if signs else "关注" if concerns or feared else "正常"

    needs: list[dict[str, str]] = []
    followups: list[dict[str, Any]] = []
    last_day: dt.date | None = None  # the latest later day said in an earlier clause, for "到时候"
    event_day: dt.date | None = None  # a scheduled event in the clause just before ("下周四有个手工活动")
    prev_followup = False
    last_words: set[str] = set()  # the day words of the latest follow-up ("月底")
    for (off, clause), (s, e) in zip(parts, spans, strict=True):
        body = _clean(clause, rules)
        if not body:
            continue
        if rules.need_cues.search(clause):
            for cat, pat in rules.needs:
                if pat.search(clause) and not any(n["category"] == cat for n in needs):
                    needs.append({"category": cat, "text": body})
                    break
        here = [m for m in marks if s <= m.start < e]
        # the clause's deadline, a later day before a same-day one; else a task word with no day of its own
        deadlines = sorted((m for m in here if m.role == DEADLINE), key=lambda m: m.day <= today)
        due = deadlines[0].day if deadlines else None
        is_followup = bool(deadlines) or (
            off > 0 and not any(m.day > today for m in here) and bool(rules.followup_cues.search(clause))
            and not rules.dates.done.search(clause))
        if not here and event_day is not None and rules.dates.actions.search(clause):
            due, is_followup = event_day, True  # "下周一有招聘会 让她儿子去": the event's day is the task's
        if rules.then_words.search(clause) and not here and is_followup and due is None and last_day is not None:
            due = last_day
            if prev_followup and followups and followups[-1]["due_on"] == due.isoformat():
                followups[-1]["item"] += " " + body  # "下个月中开始报名 我到时候提醒她": one task
                continue
        words = {text[m.start:m.end] for m in here if m.day == due}
        if is_followup and due is not None and followups and followups[-1]["due_on"] == due.isoformat() and any(
                a.endswith(b) or b.endswith(a) for a in words for b in last_words):
            # the same day named again ("说是这个月底之前到账 … 月底没到再来找我"): it refers back, one task
            followups[-1]["item"] += " " + body
            continue
        if is_followup:
            followups.append({"item": body, "owner": "", "due_on": due.isoformat() if due else ""})
            last_words = words
        prev_followup = is_followup
        last_day = next((m.day for m in reversed(here) if m.day > today), last_day)
        event_day = next((m.day for m in here if m.role == PLAN and rules.dates.event.match(text, m.end)), None)
    followups = _merge_followups(followups, today)
    for sign, cat in rules.sign_needs:
        if sign in signs and not any(n["category"] == cat for n in needs):
            needs.append({"category": cat, "text": sign})

    referral = ""
    for m in rules.referral_cues.finditer(text):
        t = rules.referral_targets.search(text, m.end(), min(len(text), m.end() + 12))
        if t:
            referral = t.group(0)
            break
    if not referral and rules.referral_self.search(text):
        referral = "派出所"
    return Draft(visited_on=visited.isoformat(), method=method, met=met, risk=risk, risk_signs=signs,
                 negated_signs=negated, concerns=concerns, needs=needs, followups=followups, referral=referral,
                 notes=original)


def _third_party_call(text: str, m: re.Match[str], rules: Rules, clause_start: int) -> bool:
    """A call made to someone else after the contact ("打了120", "打了燃气公司", "给她女儿打了电话") is not
    how the resident was reached."""
    if rules.referral_targets.match(text, m.end(), m.end() + 6) or re.match(r"\s*(?:1[12]0|119)", text[m.end():]):
        return True
    lead = text[max(clause_start, m.start() - 6):m.start()]
    return bool(clause_start > 0 and re.search(r"给(?:他|她)?的?(?:女儿|儿子|老伴|家属|侄子|亲戚)|也|又|马上|赶紧", lead))


def _merge_followups(items: list[dict[str, Any]], today: dt.date | None = None) -> list[dict[str, Any]]:
    """A dated clause right after an undated one is usually its deadline ("帮她问低保 下周五前"):
    join them. Two same-day tasks in a row are one errand ("燃气公司说下午来人 我下午再过去盯一下").

    >>> _merge_followups([{"item": "说下午来人", "due_on": "2026-09-12"},
    ...                   {"item": "我下午再过去盯一下", "due_on": "2026-09-12"}], dt.date(2026, 9, 12))[0]["item"]
    '说下午来人 我下午再过去盯一下'
    """
    out: list[dict[str, Any]] = []
    for f in items:
        if out and not out[-1]["due_on"] and f["due_on"] and len(f["item"]) <= 8:
            out[-1] = {**out[-1], "item": out[-1]["item"] + " " + f["item"], "due_on": f["due_on"]}
            continue
        if out and today is not None and out[-1]["due_on"] == f["due_on"] == today.isoformat():
            out[-1] = {**out[-1], "item": out[-1]["item"] + " " + f["item"]}
            continue
        out.append(f)
    return out
