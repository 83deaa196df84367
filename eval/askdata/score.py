"""Scores the 问数 parser (``app.service.askdata.AskData``) on ``questions.jsonl`` (set 1) and
``questions_set2.jsonl`` (set 2, by a second author) and ``questions_set3.jsonl`` (set 3, by a third,
who had seen neither the parser nor the other sets) over the demo roster.

A fresh records database (a temporary SQLite file, or a PostgreSQL database the caller made) gets
the demo roster as of a fixed evaluation day (:data:`EVAL_DAY`, so that the figures do not move
with the calendar), a supervisor of 宜川路街道 (``"as": "supervisor"``) and the demo worker
示例社工小王 (``"as": "worker"``). Every question goes to ``AskData(db, visits).ask(user, question,
today=EVAL_DAY)``; its answer is compared with :class:`eval.askdata.reference.Reference` on the
question's hand-written reading.

Each question lands in exactly one column:

- ``right``: an answerable question answered with the right metric, value (a share within 0.005) and
  set of ids; or a should-decline question declined;
- ``declined``: an answerable question declined (a false decline);
- ``wrong``: answered but not right, including any answer to a should-decline question, and an
  exception raised by ``ask``.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import random
import secrets
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from unittest import mock

from app.core.settings import Settings
from app.service.accounts import Accounts, User
from app.service.db import ServiceDB
from app.service.factory import load_region_tree
from app.service.visits import Visits
from app.service.visits.people import today as real_today
from eval.askdata.reference import METRICS, ROOT, Expected, Reference

QUESTIONS = Path(__file__).with_name("questions.jsonl")
QUESTIONS_SET2 = Path(__file__).with_name("questions_set2.jsonl")
QUESTIONS_SET3 = Path(__file__).with_name("questions_set3.jsonl")
QUESTION_SETS: dict[str, tuple[Path, ...]] = {"1": (QUESTIONS,), "2": (QUESTIONS_SET2,), "3": (QUESTIONS_SET3,),
                                              "all": (QUESTIONS, QUESTIONS_SET2, QUESTIONS_SET3)}
"""``--set``: which question files are scored (the command line's default is "all")."""
EVAL_DAY = dt.date(2026, 11, 6)  # a Friday; the demo roster is loaded as of this day and asked on it
SPLIT_SEED = 20261201
SUPERVISOR = "问数评测站长"
SUPERVISOR_REGION = "宜川路街道"
WORKER = "示例社工小王"
SHARE_TOLERANCE = 0.005
GROUPS = (*METRICS, "decline")


# -- the question set ---------------------------------------------------------------------------------

def load(split: str = "all", path: Path = QUESTIONS, *, question_set: str | None = None) -> list[dict[str, Any]]:
    """The questions of one split; from ``path`` (set 1 unless told otherwise), or, with ``question_set``
    ("1", "2", "3" or "all"), from that set's files in order."""
    if split not in ("dev", "test", "all"):
        raise ValueError(f"split should be dev, test or all, not {split!r}")
    if question_set is not None and question_set not in QUESTION_SETS:
        raise ValueError(f"question set should be 1, 2, 3 or all, not {question_set!r}")
    paths = QUESTION_SETS[question_set] if question_set is not None else (path,)
    rows = [json.loads(line) for p in paths for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if split == "all" or r["split"] == split]


def group_of(row: dict[str, Any]) -> str:
    """The stratum of a question: its metric, or "decline"."""
    e = row["expect"]
    return "decline" if e == "decline" else str(e["metric"])


def assign_splits(rows: Iterable[dict[str, Any]], seed: int = SPLIT_SEED) -> dict[str, str]:
    """The recorded split rule: within each stratum (metric or decline) the ids in order, shuffled by
    ``random.Random(f"{seed}:{stratum}")``; the first half (rounded up) is dev, the rest test."""
    by_group: dict[str, list[str]] = {}
    for r in rows:
        by_group.setdefault(group_of(r), []).append(r["id"])
    out: dict[str, str] = {}
    for g, ids in sorted(by_group.items()):
        ids = sorted(ids)
        random.Random(f"{seed}:{g}").shuffle(ids)
        half = (len(ids) + 1) // 2
        for i, qid in enumerate(ids):
            out[qid] = "dev" if i < half else "test"
    return out


def assign_splits_set2(rows: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Sets 2 and 3's recorded split rule: ids ``r001``..``r080`` (``s3-001``..), an odd number is
    dev, an even one test."""
    return {r["id"]: "dev" if int(str(r["id"]).split("-")[-1].lstrip("r")) % 2 else "test" for r in rows}


# -- the world the questions are asked in ------------------------------------------------------------

@dataclass
class World:
    db: ServiceDB
    visits: Visits
    reference: Reference
    users: dict[str, User]  # "supervisor" and "worker"
    today: dt.date
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    def close(self) -> None:
        self.db.close()
        if self._tmp is not None:
            self._tmp.cleanup()


def load_demo_as_of(visits: Visits, db: ServiceDB, day: dt.date) -> int:
    """The demo roster as ``load_demo`` makes it on ``day`` (its visits are dated relative to its day)."""
    from app.service.visits import demo

    if day > real_today():
        raise ValueError(f"the evaluation day {day} is after today: the demo's visits would lie in the future")
    with mock.patch.object(demo, "today", lambda: day):
        return demo.load_demo(visits, db)


def build_world(database_url: str | None = None, day: dt.date = EVAL_DAY) -> World:
    """A fresh records database with the demo roster, the supervisor and the demo worker."""
    tmp = tempfile.TemporaryDirectory(prefix="askdata-eval-")
    base = Path(tmp.name)
    settings = Settings(data_dir=base / "data", knowledge_dir=ROOT / "knowledge")
    db = ServiceDB(database_url or f"sqlite:///{base / 'service.sqlite3'}")
    visits = Visits.build(settings, db, None, None, load_region_tree(settings.regions_file))  # type: ignore[arg-type]
    load_demo_as_of(visits, db, day)
    accounts = Accounts(db)
    sup = accounts.add(SUPERVISOR, secrets.token_urlsafe(18), role="supervisor", region=SUPERVISOR_REGION)
    worker = accounts.get(WORKER)
    return World(db, visits, Reference(db, visits, settings.visit_tags_file), {"supervisor": sup, "worker": worker},
                 day, tmp)


# -- scoring ------------------------------------------------------------------------------------------

class Asker(Protocol):
    def ask(self, user: User, question: str, *, today: dt.date) -> Any: ...


@dataclass
class Outcome:
    id: str
    split: str
    group: str
    verdict: str  # right, declined, wrong
    question: str
    reading: str = ""
    expected: dict[str, Any] | str = ""
    given: dict[str, Any] | str = ""


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        """``{group: {n, right, declined, wrong}}`` for each metric, "decline" and "overall"."""
        table: dict[str, Counter[str]] = {g: Counter() for g in (*GROUPS, "overall")}
        for o in self.outcomes:
            for g in (o.group, "overall"):
                table[g]["n"] += 1
                table[g][o.verdict] += 1
        return {g: {k: c[k] for k in ("n", "right", "declined", "wrong")} for g, c in table.items()}

    @property
    def false_declines(self) -> int:
        return sum(o.verdict == "declined" for o in self.outcomes)

    @property
    def correct_declines(self) -> int:
        return sum(o.group == "decline" and o.verdict == "right" for o in self.outcomes)

    @property
    def answered_should_decline(self) -> int:
        return sum(o.group == "decline" and o.verdict == "wrong" for o in self.outcomes)

    def summary(self) -> dict[str, Any]:
        c = self.counts()
        return {"counts": c, "false_declines": self.false_declines, "correct_declines": self.correct_declines,
                "answered_should_decline": self.answered_should_decline}


def _ids(raw: Any) -> list[Any]:
    ints: list[int] = []
    other: list[str] = []
    for i in raw or []:
        try:
            ints.append(int(i))
        except (TypeError, ValueError):
            other.append(repr(i))  # not an id: it will not match
    return [*sorted(ints), *sorted(other)]


def _given(result: Any) -> dict[str, Any]:
    if bool(getattr(result, "declined", False)):
        return {"declined": True}
    return {"declined": bool(getattr(result, "declined", False)), "metric": getattr(result, "metric", None),
            "value": getattr(result, "value", None), "ids": _ids(getattr(result, "ids", None))}


def _same_value(metric: str, want: int | float, got: Any) -> bool:
    if not isinstance(got, int | float) or isinstance(got, bool):
        return False
    if metric == "method_share":
        return abs(float(got) - float(want)) <= SHARE_TOLERANCE
    return float(got) == float(want)


def judge(expected: Expected | None, result: Any) -> str:
    """right, declined or wrong, for one answer (``expected`` None: the question should be declined)."""
    declined = bool(getattr(result, "declined", False))
    if expected is None:
        return "right" if declined else "wrong"
    if declined:
        return "declined"
    given = _given(result)
    ok = (given["metric"] == expected.metric and _same_value(expected.metric, expected.value, given["value"])
          and set(given["ids"]) == set(expected.ids))
    return "right" if ok else "wrong"


def score(rows: list[dict[str, Any]], world: World, asker: Asker) -> Report:
    report = Report()
    for r in rows:
        user = world.users[r["as"]]
        exp = None if r["expect"] == "decline" else world.reference.expected(r["expect"], user, world.today)
        expected_shown: dict[str, Any] | str = "decline" if exp is None else {
            "metric": exp.metric, "value": round(exp.value, 4) if isinstance(exp.value, float) else exp.value,
            "ids": list(exp.ids)}
        try:
            result = asker.ask(user, r["question"], today=world.today)
        except Exception as exc:  # an error is a wrong answer, shown as such
            report.outcomes.append(Outcome(r["id"], r["split"], group_of(r), "wrong", r["question"], "",
                                           expected_shown, f"{type(exc).__name__}: {exc}"))
            continue
        given = _given(result)
        if isinstance(given.get("value"), float):
            given["value"] = round(given["value"], 4)
        report.outcomes.append(Outcome(r["id"], r["split"], group_of(r), judge(exp, result), r["question"],
                                       str(getattr(result, "reading", "") or ""), expected_shown, given))
    return report


# -- printing -----------------------------------------------------------------------------------------

def render(report: Report, *, show_wrong: bool = False) -> str:
    """The table; with ``show_wrong`` the dev questions not right (test questions are never listed)."""
    c = report.counts()
    lines = [f"{'':16}{'n':>5}{'right':>7}{'declined':>10}{'wrong':>7}"]
    for g in (*GROUPS, "overall"):
        row = c[g]
        if g != "overall" and not row["n"]:
            continue
        if g == "overall":
            lines.append("-" * 45)
        lines.append(f"{g:16}{row['n']:>5}{row['right']:>7}{row['declined']:>10}{row['wrong']:>7}")
    lines.append(f"答得对 {c['overall']['right']}/{c['overall']['n']}；可答却拒答 {report.false_declines}；"
                 f"该拒答且拒答 {report.correct_declines}；该拒答却作答 {report.answered_should_decline}")
    if show_wrong:
        shown = [o for o in report.outcomes if o.split == "dev" and o.verdict != "right"]
        hidden = sum(1 for o in report.outcomes if o.split != "dev" and o.verdict != "right")
        for o in shown:
            lines.append("")
            lines.append(f"[{o.id}] {o.verdict}  {o.question}")
            lines.append(f"  读作：{o.reading or '—'}")
            lines.append(f"  应为：{json.dumps(o.expected, ensure_ascii=False)}")
            lines.append(f"  实为：{json.dumps(o.given, ensure_ascii=False)}")
        if hidden:
            lines.append("")
            lines.append(f"（test 一半的 {hidden} 条不对的题不列出：test 只报总数。）")
    return "\n".join(lines)


def parser_factory() -> Callable[[World], Asker]:
    """The real parser, imported only now (ImportError while it does not exist yet)."""
    ask_data = getattr(importlib.import_module("app.service.askdata"), "AskData", None)
    if ask_data is None:
        raise ImportError("app.service.askdata has no AskData yet")
    return lambda world: ask_data(world.db, world.visits)


def run(split: str = "dev", database_url: str | None = None, *, show_wrong: bool = False,
        day: dt.date = EVAL_DAY, make_asker: Callable[[World], Asker] | None = None,
        question_set: str = "1") -> tuple[Report, str]:
    """Scores one split of one question set ("1", "2", "3" or "all"; set 1 when called without one, as
    before the second set existed; ``python -m eval.askdata`` defaults to "all")."""
    rows = load(split, question_set=question_set)
    if make_asker is None:
        make_asker = parser_factory()
    world = build_world(database_url, day)
    try:
        report = score(rows, world, make_asker(world))
    finally:
        world.close()
    head = f"问数评测集 split={split} set={question_set}，{len(rows)} 题，评测日 {day.isoformat()}（演示花名册按此日生成）"
    return report, head + "\n" + render(report, show_wrong=show_wrong)
