"""The visit module's figures: a worker's plan over 100,000 households and 1,000,000 visit records
(SQLite and PostgreSQL), a brief over the 10k-chunk corpus, and a 10,000-row ``.xlsx`` import.

The roster is generated (fictional, seeded) straight into the tables, in bulk, then read through
the product's own code (``Planner.plan``, ``Briefer.brief``, ``RosterImporter.commit``). The
reference beside the plan is the bare indexed query for a worker's households, the floor any plan
must pay.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text

from app.core.settings import Settings
from app.service.accounts import User
from app.service.db import ServiceDB, now_iso
from app.service.factory import load_region_tree
from app.service.tables import followups, households, local_regions, users, visits
from app.service.visits import Visits
from app.service.visits.people import address_key, today
from eval.bench.cluster import POSTGRES, postgres_db

STREETS = ("宜川路街道", "长寿路街道", "曹杨新村街道", "甘泉路街道", "石泉路街道")


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return round(s[min(len(s) - 1, int(q * len(s)))], 1)


def fill(db: ServiceDB, n_households: int, n_visits: int, n_workers: int, seed: int = 7) -> dict[str, Any]:
    """Generate the roster and its visits in bulk; returns the worker ids and the 居委 names."""
    rng = random.Random(seed)
    day = today()
    tag_sets = [["独居老人", "高龄"], ["独居老人"], ["高龄"], ["纯老家庭"], ["残疾人"], ["低保"], ["困难家庭"], ["重点关注"],
                [], [], []]
    juwei = [f"压测居委{i:02d}（虚构）" for i in range(50)]
    t0 = time.perf_counter()
    with db.tx() as conn:
        conn.execute(insert(local_regions), [{"name": j, "parent": STREETS[i % len(STREETS)], "demo": 1,
                                              "created_by": "bench", "created_at": now_iso()}
                                             for i, j in enumerate(juwei)])
        conn.execute(insert(users), [{"username": f"bench-w{i}", "password_hash": "!", "role": "worker",
                                      "region": "", "created_at": now_iso()} for i in range(n_workers)])
        wids = [r.id for r in conn.execute(select(users.c.id).where(users.c.username.like("bench-w%")))]
    per = max(1, n_visits // n_households)
    hh_rows, visit_rows, fu_rows = [], [], []
    vid = 0
    for h in range(1, n_households + 1):
        j = juwei[h % len(juwei)]
        building, room = str(1 + h // 200), str(100 + h % 200)
        dates = sorted(day - dt.timedelta(days=rng.randrange(1, 400)) for _ in range(per))
        met_home = [d for k, d in enumerate(dates) if k % 3 != 2]
        for k, d in enumerate(dates):
            vid += 1
            visit_rows.append({"id": vid, "client_id": f"b{vid}", "household_id": h, "worker_id": wids[h % len(wids)],
                               "visited_on": d.isoformat(), "method": "入户" if k % 3 != 2 else "电话", "met": 1,
                               "risk": "正常", "notes": "压测记录（虚构）", "demo": 1, "created_at": now_iso()})
            if rng.random() < 0.05:
                fu_rows.append({"visit_id": vid, "household_id": h, "item": "回访（虚构）", "owner": "bench",
                                "due_on": (d + dt.timedelta(days=14)).isoformat(), "created_at": now_iso()})
        hh_rows.append({"id": h, "juwei": j, "xiaoqu": "压测小区", "building": building, "room": room,
                        "address_key": address_key(j, "压测小区", building, room), "worker_id": wids[h % len(wids)],
                        "tags_json": json.dumps(tag_sets[h % len(tag_sets)], ensure_ascii=False),
                        "last_visit_on": max(met_home).isoformat() if met_home else "",
                        "last_contact_on": dates[-1].isoformat(), "demo": 1, "created_at": now_iso(),
                        "updated_at": now_iso()})
    with db.tx() as conn:
        for table, rows in ((households, hh_rows), (visits, visit_rows), (followups, fu_rows)):
            for i in range(0, len(rows), 20000):
                conn.execute(insert(table), rows[i:i + 20000])
        if db.dialect == "postgresql":
            for t in ("households", "visits", "followups"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT max(id) FROM {t}))"))
            conn.execute(text("ANALYZE"))
    return {"workers": wids, "juwei": juwei, "fill_s": round(time.perf_counter() - t0, 1),
            "households": len(hh_rows), "visits": len(visit_rows), "followups": len(fu_rows)}


def _module(db: ServiceDB, settings: Settings, assistant: Any = None, manifest: Any = None) -> Visits:
    return Visits.build(settings, db, assistant, manifest, load_region_tree(settings.regions_file))


def plan_latency(db: ServiceDB, settings: Settings, info: dict[str, Any], n: int = 200) -> dict[str, Any]:
    v = _module(db, settings)
    rng = random.Random(3)
    plans, refs, sizes = [], [], []
    for _ in range(n):
        wid = rng.choice(info["workers"])
        u = User(id=wid, username=f"w{wid}", role="worker")
        t = time.perf_counter()
        p = v.planner.plan(u)
        plans.append((time.perf_counter() - t) * 1000)
        sizes.append(p["total"])
        t = time.perf_counter()
        with db.read() as conn:
            conn.execute(select(households.c.id, households.c.tags_json, households.c.last_visit_on)
                         .where(households.c.worker_id == wid)).all()
        refs.append((time.perf_counter() - t) * 1000)
    sup = User(id=0, username="bench-sup", role="supervisor", region=info["juwei"][0])
    sup_ms = []
    for _ in range(20):
        t = time.perf_counter()
        sp = v.planner.plan(sup)
        sup_ms.append((time.perf_counter() - t) * 1000)
    return {"p50": _pct(plans, .5), "p95": _pct(plans, .95), "ref_p50": _pct(refs, .5), "ref_p95": _pct(refs, .95),
            "due_per_plan": round(statistics.mean(sizes), 1), "sup_p50": _pct(sup_ms, .5), "sup_p95": _pct(sup_ms, .95),
            "sup_due": sp["total"]}


def dashboard_latency(db: ServiceDB, settings: Settings, info: dict[str, Any], n: int = 10) -> dict[str, Any]:
    """A street's dashboard (the supervisor of 宜川路街道: a fifth of the roster)."""
    from app.service.dashboard import Dashboard, warm_up

    warm_up()  # as the server does at start-up (jieba's keyword tables)
    board = Dashboard(db, _module(db, settings))
    sup = User(id=0, username="bench-street", role="supervisor", region=STREETS[0])
    ms = []
    for _ in range(n):
        t = time.perf_counter()
        s = board.summary(sup)
        ms.append((time.perf_counter() - t) * 1000)
    # the first call reads the tables from disk into the database's cache: reported apart as well
    return {"p50": _pct(ms, .5), "p95": _pct(ms, .95), "first_ms": round(ms[0], 1), "households": s["households"]}


ASK_QUESTIONS = ("高龄老人有几户", "上个月哪些高龄老人一次都没走访到", "这个季度电话走访占多少",
                 "过了期限还没关的跟进有几条", "有没有紧急还没确认的", "这个月医疗健康的诉求有几条",
                 "独居老人上个月一共走访了几次")


def ask_latency(db: ServiceDB, settings: Settings, info: dict[str, Any], rounds: int = 5) -> dict[str, Any]:
    """问数 offline for a street's supervisor, seven kinds of question; beside a bare COUNT of the
    street's households (the least any answer must read)."""
    from app.service.askdata import AskData

    v = _module(db, settings)
    ask = AskData(db, v)
    sup = User(id=0, username="bench-street", role="supervisor", region=STREETS[0])
    ms, refs, declined = [], [], 0
    below = sorted(v.regions.below(STREETS[0]))
    for _ in range(rounds):
        for q in ASK_QUESTIONS:
            t = time.perf_counter()
            r = ask.ask(sup, q)
            ms.append((time.perf_counter() - t) * 1000)
            declined += r.declined
            t = time.perf_counter()
            with db.read() as conn:
                conn.execute(select(func.count()).select_from(households).where(households.c.juwei.in_(below))).scalar()
            refs.append((time.perf_counter() - t) * 1000)
    return {"p50": _pct(ms, .5), "p95": _pct(ms, .95), "ref_p50": _pct(refs, .5), "ref_p95": _pct(refs, .95),
            "questions": len(ASK_QUESTIONS), "declined": declined // rounds}


def report_latency(db: ServiceDB, settings: Settings, n: int = 5) -> dict[str, Any]:
    """A street's monthly 走访情况报告 drafted offline (the dashboard's figures into the template),
    and its Word file."""
    from app.service.dashboard import Dashboard
    from app.service.drafts import Drafts
    from app.service.drafts.word import to_docx

    v = _module(db, settings)
    board = Dashboard(db, v)
    drafts = Drafts.build(db, v, board, settings.notice_templates_file)
    sup = User(id=0, username="bench-street", role="supervisor", region=STREETS[0])
    ms, word = [], []
    for _ in range(n):
        t = time.perf_counter()
        d = drafts.make(sup, "monthly_report", {})
        ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        to_docx(d.text)
        word.append((time.perf_counter() - t) * 1000)
    return {"p50": _pct(ms, .5), "p95": _pct(ms, .95), "docx_p50": _pct(word, .5), "lines": len(d.lines)}


def roster_xlsx(rows: int, juwei: str) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["居委", "小区", "楼", "室", "姓名", "关系", "电话", "标签"])  # type: ignore[union-attr]
    for i in range(rows):
        ws.append([juwei, "导入压测小区（虚构）", str(1 + i // 100), str(100 + i % 100), f"压测{i}", "本人",  # type: ignore[union-attr]
                   f"1390000{i % 10000:04d}", "独居老人" if i % 3 == 0 else "高龄"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def import_time(db: ServiceDB, settings: Settings, data: bytes, juwei: str) -> dict[str, Any]:
    v = _module(db, settings)
    admin = User(id=0, username="bench-admin", role="admin")
    t = time.perf_counter()
    res = v.importer.commit(admin, "roster.xlsx", data)
    return {"seconds": round(time.perf_counter() - t, 2), "created": res["created"], "bad_rows": res["bad_rows"]}


def brief_latency(corpus_dir: Path, db: ServiceDB, settings: Settings, info: dict[str, Any], n: int = 50) -> dict[str, Any]:
    from app.service.factory import build_assistant

    kb = Settings(data_dir=corpus_dir, knowledge_dir=settings.knowledge_dir, models_dir_override=settings.models_dir)  # type: ignore[call-arg]
    assistant = build_assistant(kb)
    assistant.warm_up()
    v = _module(db, settings, assistant, assistant.retriever.manifest)
    admin = User(id=0, username="bench-admin", role="admin")
    rng = random.Random(5)
    ms, found = [], 0
    for _ in range(n):
        hid = rng.randrange(1, info["households"] + 1)
        t = time.perf_counter()
        b = v.briefer.brief(admin, hid)
        ms.append((time.perf_counter() - t) * 1000)
        found += bool(b["policies"])
    return {"p50": _pct(ms, .5), "p95": _pct(ms, .95), "with_policies": found, "n": n,
            "chunks": assistant.retriever.manifest.count_chunks()}


def bench_visits(settings: Settings, corpus_dir: Path | None, *, households_n: int = 100_000,
                 visits_n: int = 1_000_000, workers_n: int = 300, import_rows: int = 10_000,
                 say: Any = print) -> tuple[list[dict[str, Any]], list[str]]:
    from eval.bench.table import row

    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    xlsx = roster_xlsx(import_rows, "导入压测居委（虚构）")
    engines: list[tuple[str, Any]] = [("sqlite", None), ("postgresql", postgres_db)]
    for engine, make in engines:
        with tempfile.TemporaryDirectory(prefix="shegong-visits-") as tmp:
            ctx = make() if make else _sqlite(Path(tmp))
            with ctx as url:
                if url is None:
                    notes.append(f"visits on {engine}: no server at {POSTGRES}, not measured")
                    continue
                db = ServiceDB(url)
                say(f"visits ({engine}): generating {households_n} households, {visits_n} visits")
                info = fill(db, households_n, visits_n, workers_n)
                notes.append(f"visits on {engine}: {info['households']} households, {info['visits']} visits, "
                             f"{info['followups']} follow-ups generated in {info['fill_s']} s")
                say(f"visits ({engine}): plan latency")
                p = plan_latency(db, settings, info)
                rows.append(row(f"visits ({engine}): a worker's plan (GET /api/plan, in process)",
                                f"{households_n // 1000}k households, {visits_n // 1000}k visits", None,
                                p50=p["p50"], p95=p["p95"],
                                naive={"p50_ms": p["ref_p50"], "p95_ms": p["ref_p95"],
                                       "what": "bare indexed SELECT of the worker's households"},
                                extra={"due_per_plan": p["due_per_plan"]}))
                rows.append(row(f"visits ({engine}): a supervisor's plan for one 居委", f"{households_n // 50} households",
                                None, p50=p["sup_p50"], p95=p["sup_p95"], extra={"due": p["sup_due"]}))
                say(f"visits ({engine}): a street's dashboard")
                dash = dashboard_latency(db, settings, info)
                rows.append(row(f"visits ({engine}): a street's dashboard (GET /api/dashboard)",
                                f"{dash['households']} households of {households_n // 1000}k", None,
                                p50=dash["p50"], p95=dash["p95"], extra={"first_ms": dash["first_ms"]}))
                say(f"visits ({engine}): 问数, offline")
                a = ask_latency(db, settings, info)
                rows.append(row(f"visits ({engine}): 问数 offline for a street (POST /api/ask-data, in process)",
                                f"{a['questions']} kinds of question", None, p50=a["p50"], p95=a["p95"],
                                naive={"p50_ms": a["ref_p50"], "p95_ms": a["ref_p95"],
                                       "what": "bare COUNT of the street's households"},
                                extra={"declined": a["declined"]}))
                say(f"visits ({engine}): a street's monthly report draft")
                rep = report_latency(db, settings)
                rows.append(row(f"visits ({engine}): a street's monthly report draft (POST /api/drafts, offline)",
                                f"{rep['lines']} lines", None, p50=rep["p50"], p95=rep["p95"],
                                extra={"docx_p50_ms": rep["docx_p50"]}))
                if corpus_dir is not None and engine == "sqlite":
                    say(f"visits ({engine}): brief latency over {corpus_dir}")
                    b = brief_latency(corpus_dir, db, settings, info)
                    rows.append(row(f"visits ({engine}): a household's brief (GET /api/households/{{id}}/brief)",
                                    f"{b['chunks']} chunks", b["chunks"], p50=b["p50"], p95=b["p95"],
                                    extra={"with_policies": f"{b['with_policies']}/{b['n']}"}))
                v = _module(db, settings)
                v.regions.add("导入压测居委（虚构）", "宜川路街道", by="bench")
                say(f"visits ({engine}): import of a {import_rows}-row .xlsx")
                imp = import_time(db, settings, xlsx, "导入压测居委（虚构）")
                rows.append(row(f"visits ({engine}): import a {import_rows}-row .xlsx (preview + commit)",
                                f"{len(xlsx) // 1024} KB", None, took_s=imp["seconds"],
                                throughput=round(import_rows / imp["seconds"]) if imp["seconds"] else None,
                                unit="rows/s", extra=imp))
                db.close()
    return rows, notes


@contextmanager
def _sqlite(tmp: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp / 'service.sqlite3'}"
