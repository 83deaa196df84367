"""问数's guard and runner on SQLite and PostgreSQL: hostile SQL is refused by ``check`` with a
Chinese message; a checked query sees only the caller's rows, whatever it says; and the database
itself refuses writes, reads outside the views and (PostgreSQL's row-level security) rows outside the
asker's scope, and stops long queries, even for SQL that never went through ``check``."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import time

import pytest
from sqlalchemy import func, select

from app.core.errors import ValidationError
from app.service.accounts import User
from app.service.askdata.sql import (
    MAX_ROWS,
    VIEWS,
    CheckedQuery,
    QueryFailed,
    UnsafeQuery,
    _sqlite_guard,
    check,
    execute_readonly,
    run,
    schema_text,
    sqlglot_dialect,
    view_selects,
)
from app.service.tables import households, users, visits
from app.service.visits.book import FollowupIn, NeedIn, VisitIn
from app.service.visits.people import today
from app.service.visits.scope import Scope
from tests.visits.conftest import OTHER_JUWEI, World

DIALECTS = ("sqlite", "postgresql")
CHINESE = re.compile(r"[\u4e00-\u9fff]")

# (hostile SQL, a part of the refusal)
HOSTILE: list[tuple[str, str]] = [
    # writes and everything else that is not a query
    ("INSERT INTO visit (id) VALUES (1)", "不允许 INSERT"),
    ("UPDATE hh SET worker = 'x'", "不允许 UPDATE"),
    ("DELETE FROM visits", "不允许 DELETE"),
    ("DROP TABLE users", "不允许 DROP"),
    ("CREATE TABLE t AS SELECT * FROM hh", "不允许 CREATE"),
    ("ALTER TABLE users ADD COLUMN x TEXT", "不允许 ALTER"),
    ("ATTACH DATABASE '/tmp/x.db' AS x", "只允许一条 SELECT 查询"),
    ("PRAGMA query_only = OFF", "不允许 PRAGMA"),
    ("VACUUM", "不允许 VACUUM"),
    ("COPY users TO '/tmp/users.csv'", "不允许 COPY"),
    ("GRANT ALL ON users TO PUBLIC", "不允许 GRANT"),
    ("SET statement_timeout = 0", "不允许 SET"),
    ("EXPLAIN SELECT * FROM hh", "不允许 EXPLAIN"),
    ("VALUES (1)", "不允许 VALUES"),
    # tables that are not the views
    ("SELECT * FROM users", "不允许访问表 users"),
    ("SELECT token_hash FROM tokens", "不允许访问表 tokens"),
    ("SELECT name, phone FROM members", "不允许访问表 members"),
    ("SELECT notes FROM households", "不允许访问表 households"),
    ("SELECT * FROM visit v JOIN visits w ON w.id = v.id", "不允许访问表 visits"),
    ("SELECT * FROM hh NATURAL JOIN tokens", "不允许访问表 tokens"),
    ("SELECT sql FROM sqlite_master", "不允许访问表 sqlite_master"),
    ("SELECT usename, passwd FROM pg_catalog.pg_user", "不允许访问表 pg_catalog.pg_user"),
    ("SELECT table_name FROM information_schema.tables", "不允许访问表 information_schema.tables"),
    ("SELECT * FROM main.hh", "不允许访问表 main.hh"),
    ("SELECT * FROM public.hh", "不允许访问表 public.hh"),
    # functions
    ("SELECT pg_sleep(10)", "不允许使用函数 pg_sleep"),
    ('SELECT "pg_sleep"(1)', "不允许使用函数 pg_sleep"),
    ("SELECT pg_read_file('/etc/passwd')", "不允许使用函数 pg_read_file"),
    ("SELECT * FROM pg_ls_dir('.')", "不允许使用函数 pg_ls_dir"),
    ("SELECT lo_import('/etc/passwd')", "不允许使用函数 lo_import"),
    ("SELECT * FROM dblink('dbname=x', 'SELECT 1') AS t(a int)", "不允许使用函数 dblink"),
    ("SELECT load_extension('/tmp/evil.so')", "不允许使用函数 load_extension"),
    ("SELECT readfile('/etc/passwd')", "不允许使用函数 readfile"),
    ("SELECT writefile('/tmp/x', 'y')", "不允许使用函数 writefile"),
    ("SELECT set_config('default_transaction_read_only', 'off', false)", "不允许使用函数 set_config"),
    ("SELECT * FROM pragma_table_info('users')", "不允许使用函数 pragma_table_info"),
    ("SELECT upper(version())", "不允许使用函数"),
    ("SELECT current_user", "不允许使用函数 current_user"),
    ("SELECT * FROM hh WHERE last_visit_on > current_date", "不允许使用函数 current_date"),
    ("SELECT CAST(pg_sleep(5) AS TEXT) FROM hh", "不允许使用函数 pg_sleep"),  # through a cast
    ("SELECT count(pg_sleep(5)) FROM hh", "不允许使用函数 pg_sleep"),  # nested in an allowed one
    ("SELECT coalesce(current_setting('is_superuser'), '') FROM hh", "不允许使用函数 current_setting"),
    ("SELECT CAST(id AS regclass) FROM hh", "regclass"),
    # stacked statements, also behind comments
    ("SELECT 1; DROP TABLE users", "只允许一条 SELECT 查询（这里有 2 条语句）"),
    ("SELECT * FROM hh -- \n; DELETE FROM visits", "这里有 2 条语句"),
    ("SELECT * FROM hh /* x */; DELETE FROM visits", "这里有 2 条语句"),
    ("SELECT * FROM hh /* ; DELETE FROM visits */ ; DROP TABLE users", "这里有 2 条语句"),
    ("BEGIN; DELETE FROM visits; COMMIT", "这里有 3 条语句"),
    # locks, INTO, recursion, a write inside a query
    ("SELECT * INTO stolen FROM hh", "不允许 SELECT INTO"),
    ("SELECT * FROM hh FOR UPDATE", "不允许 FOR UPDATE"),
    ("SELECT * FROM hh FOR SHARE", "FOR SHARE"),
    ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r", "不允许 WITH RECURSIVE"),
    ("WITH d AS (DELETE FROM visits RETURNING id) SELECT * FROM d", "不支持这种写法"),
    # other tables reached through subqueries, unions and CTEs
    ("SELECT juwei FROM hh WHERE worker IN (SELECT username FROM users WHERE role = 'admin')", "不允许访问表 users"),
    ("SELECT (SELECT password_hash FROM users LIMIT 1) AS p FROM hh", "不允许访问表 users"),
    ("SELECT * FROM hh UNION SELECT * FROM users", "不允许访问表 users"),
    ("SELECT id FROM hh WHERE EXISTS (SELECT 1 FROM members m WHERE m.household_id = hh.id AND m.phone LIKE '139%')",
     "不允许访问表 members"),
    ("WITH x AS (SELECT * FROM users) SELECT * FROM x", "不允许访问表 users"),
    ("WITH a AS (SELECT * FROM b), b AS (SELECT 1 AS n) SELECT * FROM a", "不允许访问表 b"),  # b is not yet defined there
    ("WITH users AS (SELECT 1 AS id) SELECT id FROM users", "与视图或表重名"),
    ("SELECT * FROM (WITH users AS (SELECT 1 AS id) SELECT id FROM users) AS t, users", "WITH 只能写在整条查询的最前面"),
    ("SELECT 'a\\', (SELECT password_hash FROM users) AS p, '' FROM hh", "不允许访问表 users"),  # a backslash is no escape
    # undeclared columns
    ("SELECT hh.notes FROM hh", "不允许使用列 hh.notes"),
    ("SELECT notes FROM hh", "不允许使用列 notes"),
    ("SELECT phone FROM hh", "不允许使用列 phone"),
    ("SELECT h.id_card FROM hh AS h", "不允许使用列 h.id_card"),
    ("WITH x AS (SELECT juwei FROM hh) SELECT x.phone FROM x", "不允许使用列 x.phone"),
    ("SELECT notes FROM hh UNION SELECT juwei FROM hh ORDER BY notes", "不允许使用列 notes"),
    # grammar outside the list
    ("SELECT * FROM hh WHERE id = ?", "不支持这种写法"),
    ("SELECT * FROM hh WHERE id = $1", "$1"),
    ("SELECT * FROM hh LIMIT (SELECT count(*) FROM hh)", "LIMIT / OFFSET 只能是整数"),
    ("SELECT count(*) OVER () FROM hh", "不支持这种写法"),
    ("SELECT * FROM hh, LATERAL (SELECT * FROM visit) AS v", "不支持这种写法"),
    ("SELECT 1 " + "x" * 5000, "SQL 太长"),
    ("SELECT " + "(" * 300 + "1" + ")" * 300 + " FROM hh", "无法解析"),
]

LEGIT = [
    "SELECT count(*) FROM hh",
    "SELECT juwei, count(*) AS n FROM hh WHERE tags LIKE '%独居老人%' GROUP BY juwei ORDER BY n DESC",
    "SELECT substr(visited_on, 1, 7) AS month, count(*) AS n FROM visit WHERE met = 1 GROUP BY month ORDER BY month",
    "WITH last AS (SELECT household_id, max(visited_on) AS d FROM visit GROUP BY household_id) "
    "SELECT h.building, l.d FROM hh AS h JOIN last AS l ON l.household_id = h.id",
    "SELECT worker, count(*) FROM followup f JOIN hh h ON h.id = f.household_id WHERE f.status = 'open' GROUP BY worker",
    "SELECT id FROM hh UNION SELECT household_id FROM visit ORDER BY id",
    "SELECT juwei FROM hh h WHERE EXISTS (SELECT 1 FROM visit v WHERE v.household_id = h.id AND v.risk = '紧急')",
    "SELECT count(*) AS 户数 FROM HH",
    "WITH a(x, n) AS (SELECT juwei, count(*) FROM hh GROUP BY juwei) SELECT x, n FROM a ORDER BY n DESC LIMIT 3",
    "SELECT building, CASE WHEN urgent_open = 1 THEN '有' ELSE '无' END AS u, coalesce(nullif(tags, ''), '无标签') FROM hh",
    "SELECT v.method, round(avg(v.needs_count), 1) AS a FROM visit AS v GROUP BY v.method HAVING count(*) > 0",
]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(("sql", "refusal"), HOSTILE)
def test_hostile_sql_is_refused(sql: str, refusal: str, dialect: str) -> None:
    with pytest.raises(UnsafeQuery) as err:
        check(sql, dialect)
    msg = str(err.value)
    assert isinstance(err.value, ValidationError)
    assert CHINESE.search(msg), msg
    assert refusal.lower() in msg.lower(), msg


def test_there_are_enough_hostile_strings() -> None:
    assert len({s for s, _ in HOSTILE}) >= 30


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("sql", LEGIT)
def test_legitimate_queries_pass(sql: str, dialect: str) -> None:
    q = check(sql, dialect)
    assert q.dialect == sqlglot_dialect(dialect) and q.sql.endswith(f"LIMIT {q.limit}")
    assert q.body.startswith("SELECT") and (q.ctes != "") == sql.startswith("WITH")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_limit_is_added_and_clamped(dialect: str) -> None:
    assert check("SELECT * FROM hh", dialect).sql == f"SELECT * FROM hh LIMIT {MAX_ROWS}"
    assert check("SELECT * FROM hh LIMIT 100000", dialect).limit == MAX_ROWS
    assert check("SELECT * FROM hh LIMIT 7 OFFSET 2", dialect).sql == "SELECT * FROM hh LIMIT 7 OFFSET 2"
    assert check("SELECT * FROM hh LIMIT 80", dialect, max_rows=50).sql.endswith("LIMIT 50")
    union = check("SELECT id FROM hh UNION SELECT household_id FROM visit", dialect)
    assert union.sql.endswith(f"UNION SELECT household_id FROM visit LIMIT {MAX_ROWS}")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_comments_are_dropped_and_the_text_is_normalised(dialect: str) -> None:
    q = check("select /* 说明 */ count(*) as N from HH -- 结尾", dialect)
    assert q.sql == f"SELECT COUNT(*) AS n FROM hh LIMIT {MAX_ROWS}"


def test_date_helpers_follow_the_dialect() -> None:
    assert check("SELECT strftime('%Y-%m', visited_on) AS m FROM visit", "sqlite")
    assert check("SELECT julianday('2026-11-30') - julianday(due_on) AS d FROM followup WHERE due_on <> ''", "sqlite")
    assert check("SELECT to_char(CAST(visited_on AS DATE), 'YYYY-MM') AS m FROM visit", "postgresql")
    assert check("SELECT CAST('2026-11-30' AS DATE) - CAST(due_on AS DATE) AS d FROM followup", "postgresql")
    with pytest.raises(UnsafeQuery, match="strftime"):
        check("SELECT strftime('%Y-%m', visited_on) FROM visit", "postgresql")
    with pytest.raises(UnsafeQuery, match="julianday"):
        check("SELECT julianday(visited_on) FROM visit", "postgresql")


def test_the_schema_text_names_every_view_and_column_and_nothing_identifying() -> None:
    for dialect in DIALECTS:
        text = schema_text(dialect)
        for view in VIEWS.values():
            assert f"视图 {view.name}" in text
            assert all(f"- {c}（" in text for c in view.column_names)
        assert "YYYY-MM-DD" in text and "独居老人" in text
        for hidden in ("notes", "phone", "id_card", "name", "password"):
            assert not any(hidden in v.column_names for v in VIEWS.values())
    assert "julianday" in schema_text("sqlite") and "to_char" in schema_text("postgresql")


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_the_views_select_exactly_the_declared_columns(dialect: str) -> None:
    selects = view_selects(dialect, _scope_of_nobody(), dt.date(2026, 11, 30))
    assert set(selects) == set(VIEWS)
    for name, q in selects.items():
        assert [c.name for c in q.selected_columns] == [c for c, _, _ in VIEWS[name].columns]


def _scope_of_nobody() -> Scope:
    return Scope(User(id=0, username="nobody", role="worker"))


# -- running, on both engines ---------------------------------------------------------------------
def _day(days_ago: int) -> str:
    return (today() - dt.timedelta(days=days_ago)).isoformat()


def _visit(w: World, user: User, hid: int, cid: str, *, method: str = "入户", risk: str = "正常",
           needs: list[NeedIn] | None = None, fus: list[FollowupIn] | None = None) -> None:
    w.visits.book.save(user, VisitIn(client_id=cid, household_id=hid, visited_on=_day(3), method=method, risk=risk,
                                     needs=needs or [], followups=fus or []))


def _ask(w: World, user: User, sql: str, **kw: object) -> tuple[list[str], list[tuple[object, ...]]]:
    return run(w.db, w.visits.roster.scope(user), check(sql, w.db.dialect), today=today(), **kw)  # type: ignore[arg-type]


def _one(w: World, user: User, sql: str) -> object:
    return _ask(w, user, sql)[1][0][0]


@pytest.fixture
def records(world: World) -> tuple[World, dict[str, int]]:
    w = world
    h = {"a": w.household("1", "w1", ["独居老人", "高龄"]), "b": w.household("2", "w1", ["低保"]),
         "c": w.household("3", "w2", []), "d": w.household("4", "w1", ["独居老人"], juwei=OTHER_JUWEI)}
    _visit(w, w.w1, h["a"], "ask-a-0001", needs=[NeedIn(category="医疗健康", text="配药")],
           fus=[FollowupIn(item="送药", due_on=_day(1))])
    _visit(w, w.w1, h["b"], "ask-b-0001", method="电话")
    _visit(w, w.w2, h["c"], "ask-c-0001", risk="紧急", fus=[FollowupIn(item="联系家属")])
    return w, h


def test_a_worker_counts_only_their_households(records: tuple[World, dict[str, int]]) -> None:
    w, _ = records
    counts = {u.username: _one(w, u, "SELECT count(*) FROM hh") for u in (w.w1, w.w2, w.sup, w.sup_other, w.admin)}
    assert counts == {"w1": 3, "w2": 1, "sup": 4, "sup_other": 0, "admin": 4}
    # the model's WHERE cannot widen the scope
    assert _one(w, w.w1, "SELECT count(*) FROM hh WHERE worker <> 'w1' OR 1 = 1") == 3
    assert _one(w, w.w1, "SELECT count(*) FROM hh WHERE worker = 'w2'") == 0
    assert _ask(w, w.w1, "SELECT worker, tags FROM hh ORDER BY id")[1] == [
        ("w1", "独居老人、高龄"), ("w1", "低保"), ("w1", "独居老人")]
    assert _ask(w, w.sup, "SELECT juwei, count(*) AS n FROM hh GROUP BY juwei ORDER BY n DESC")[1][0][1] == 3


def test_visits_and_followups_are_scoped_through_the_household(records: tuple[World, dict[str, int]]) -> None:
    w, h = records
    def both(u: User) -> tuple[object, object]:
        return _one(w, u, "SELECT count(*) FROM visit"), _one(w, u, "SELECT count(*) FROM followup")

    assert both(w.w1) == (2, 1) and both(w.w2) == (1, 1) and both(w.sup) == (3, 2) and both(w.admin) == (3, 2)
    assert both(w.sup_other) == (0, 0)
    assert _ask(w, w.sup_other, "SELECT * FROM hh")[1] == []
    cols, rows = _ask(w, w.sup, "SELECT worker, method, met, risk, needs_count, acknowledged, visited_on FROM visit ORDER BY id")
    assert cols == ["worker", "method", "met", "risk", "needs_count", "acknowledged", "visited_on"]
    assert rows == [("w1", "入户", 1, "正常", 1, 0, _day(3)), ("w1", "电话", 1, "正常", 0, 0, _day(3)),
                    ("w2", "入户", 1, "紧急", 0, 0, _day(3))]
    assert _ask(w, w.w1, "SELECT household_id, owner, due_on, status, raised_on, closed_at FROM followup")[1] == [
        (h["a"], "w1", _day(1), "open", _day(3), "")]
    # a household lent for cover brings its visits and follow-ups with it
    w.visits.roster.share(w.sup, h["a"], "w2")
    assert _one(w, w.w2, "SELECT count(*) FROM hh") == 2 and both(w.w2) == (2, 2)
    joined = _ask(w, w.w2, "SELECT h.room, count(v.id) AS n FROM hh AS h JOIN visit AS v ON v.household_id = h.id "
                           "GROUP BY h.room ORDER BY h.room")
    assert joined[1] == [("1", 1), ("3", 1)]


def test_the_views_hold_no_names_or_phones(records: tuple[World, dict[str, int]]) -> None:
    w, _ = records
    for view in VIEWS.values():
        cols, rows = _ask(w, w.admin, f"SELECT * FROM {view.name}")
        assert cols == [c for c, _, _ in view.columns] and rows
        text = repr(rows)
        assert "13900001234" not in text and "测试1" not in text and "送药" not in text and "配药" not in text


def test_rows_are_capped(records: tuple[World, dict[str, int]]) -> None:
    w, _ = records
    assert len(_ask(w, w.admin, "SELECT id FROM hh", max_rows=2)[1]) == 2
    q = check("SELECT id FROM hh", w.db.dialect, max_rows=1)
    assert len(run(w.db, w.visits.roster.scope(w.admin), q, today=today())[1]) == 1


def _unchecked(w: World, sql: str) -> CheckedQuery:
    """A query that never went through check(), as if it had slipped past."""
    return CheckedQuery(sql=sql, dialect=sqlglot_dialect(w.db.dialect), body=sql)


def _state(w: World) -> tuple[object, ...]:
    with w.db.read() as conn:
        return (conn.execute(select(func.count()).select_from(visits)).scalar_one(),
                conn.execute(select(func.count()).select_from(households)).scalar_one(),
                tuple(conn.execute(select(households.c.notes).order_by(households.c.id)).scalars()),
                conn.execute(select(users.c.password_hash).where(users.c.username == "admin")).scalar_one())


WRITES = [
    "DELETE FROM visits",
    "UPDATE households SET notes = 'pwned'",
    "INSERT INTO audit (at, actor, action, target) VALUES ('x', 'x', 'x', 'x')",
    "UPDATE users SET password_hash = 'x' WHERE username = 'admin'",
]


def test_the_database_refuses_writes_that_skipped_the_check(records: tuple[World, dict[str, int]]) -> None:
    w, _ = records
    before = _state(w)
    scope = w.visits.roster.scope(w.admin)
    bare = [*WRITES, "DROP TABLE followups", "CREATE TABLE stolen (x INTEGER)", "SELECT 1; DELETE FROM visits"]
    if w.db.dialect == "postgresql":
        bare += ["SELECT 1; COMMIT; DELETE FROM visits", "SELECT set_config('transaction_read_only', 'off', true)"]
    else:
        bare += ["PRAGMA query_only = OFF", "ATTACH DATABASE ':memory:' AS x"]
    for sql in WRITES:  # under the views' WITH, as run() sends it
        with pytest.raises(QueryFailed) as err:
            run(w.db, scope, _unchecked(w, sql), today=today())
        assert CHINESE.search(str(err.value)), str(err.value)
    for sql in bare:  # the statement alone
        with pytest.raises(QueryFailed) as err:
            execute_readonly(w.db, sql)
        assert CHINESE.search(str(err.value)), (sql, str(err.value))
    assert _state(w) == before
    assert _one(w, w.admin, "SELECT count(*) FROM followup") == 2  # the table is still there


def test_the_database_reads_only_what_the_views_read(records: tuple[World, dict[str, int]]) -> None:
    """SQLite's authorizer and PostgreSQL's role (migration 0003) refuse other tables, columns and
    functions to SQL that skipped the check."""
    w, _ = records
    scope = w.visits.roster.scope(w.admin)
    hostile = ["SELECT password_hash FROM users", "SELECT phone FROM members", "SELECT notes FROM households",
               "SELECT token_hash FROM tokens", "SELECT * FROM access_log"]
    if w.db.dialect == "sqlite":
        hostile += ["SELECT * FROM pragma_table_info('users')", "SELECT load_extension('x')",
                    "SELECT sql FROM sqlite_master"]
    else:
        hostile += ["SELECT pg_read_file('/etc/passwd')", "SELECT * FROM pg_ls_dir('.')",
                    "SELECT lo_import('/etc/passwd')", "SELECT * FROM audit"]
    for sql in hostile:
        with pytest.raises(QueryFailed, match="数据库拒绝"):
            run(w.db, scope, _unchecked(w, sql), today=today())
    # what the views themselves read still works
    assert run(w.db, scope, _unchecked(w, "SELECT count(*) FROM hh"), today=today())[1] == [(4,)]


def test_postgres_row_level_security_holds_the_scope_even_for_sql_that_skipped_the_views(
        records: tuple[World, dict[str, int]]) -> None:
    w, _ = records
    if w.db.dialect != "postgresql":
        pytest.skip("SQLite has no roles: there the scope is the views' (the CTEs run() defines)")
    bare = {"SELECT count(*) FROM households": "hh", "SELECT count(*) FROM visits": "visit",
            "SELECT count(*) FROM followups": "followup"}
    for u in (w.w1, w.w2, w.sup, w.sup_other, w.admin):
        scope = w.visits.roster.scope(u)
        for table_sql, view in bare.items():
            got = execute_readonly(w.db, table_sql, scope=scope, today=today())[1][0][0]
            assert got == _one(w, u, f"SELECT count(*) FROM {view}"), (u.username, table_sql)
        # the role sees its own connection's scope row only, and cannot change it
        assert execute_readonly(w.db, "SELECT count(*) FROM askdata_scope", scope=scope, today=today())[1] == [(1,)]
    with pytest.raises(QueryFailed, match="数据库拒绝了写入"):
        execute_readonly(w.db, "UPDATE askdata_scope SET everything = true", scope=w.visits.roster.scope(w.w2),
                         today=today())
    # without a scope the role sees no household at all; the application, as the tables' owner, sees all
    assert execute_readonly(w.db, "SELECT count(*) FROM households")[1] == [(0,)]
    with w.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(households)).scalar_one() == 4
        assert conn.exec_driver_sql("SELECT count(*) FROM askdata_scope").scalar_one() == 0


def test_the_roles_grants_are_what_the_views_read() -> None:
    import importlib.util
    from pathlib import Path

    import app.service.db
    from app.service.askdata.sql import _read_columns

    path = Path(app.service.db.__file__).parent / "migrations" / "versions" / "0003_askdata_role.py"
    spec = importlib.util.spec_from_file_location("askdata_role", path)
    assert spec and spec.loader
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    granted = {(t, c) for t, cols in m.COLUMNS.items() for c in cols}
    for d in ("postgres", "sqlite"):
        needed = _read_columns(list(view_selects(d, Scope(User(1, "x", "worker")), dt.date(2026, 11, 6)).values()))
        assert needed <= granted, sorted(needed - granted)


def test_a_sqlite_connection_under_the_guard_cannot_write_even_if_the_authorizer_allowed_it(
        records: tuple[World, dict[str, int]]) -> None:
    w, _ = records
    if w.db.dialect != "sqlite":
        pytest.skip("SQLite's query_only; PostgreSQL's READ ONLY transaction is shown above")
    before = _state(w)
    with w.db.engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        with _sqlite_guard(raw, lambda *a: sqlite3.SQLITE_OK, lambda: 0), \
                pytest.raises(sqlite3.OperationalError, match="readonly"):
            raw.execute("DELETE FROM visits")
    assert _state(w) == before


def test_a_long_query_is_stopped_and_the_connection_still_works(records: tuple[World, dict[str, int]]) -> None:
    w, _ = records
    for room in ("5", "6"):
        w.household(room, "w1", [])
    scope = w.visits.roster.scope(w.admin)
    cross = "SELECT count(*) FROM " + ", ".join(f"hh AS t{i}" for i in range(12))  # 6**12 rows, and it passes check()
    started = time.monotonic()
    with pytest.raises(QueryFailed, match=r"查询超时（0\.5 秒），请把问题问得更具体一些"):
        run(w.db, scope, check(cross, w.db.dialect), today=today(), timeout_s=0.5)
    with pytest.raises(QueryFailed, match="查询超时"):
        execute_readonly(w.db, "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
                         timeout_s=0.5)
    assert time.monotonic() - started < 10
    # the pooled connections are as they were: reads, the guard again, and ordinary writes
    assert _one(w, w.admin, "SELECT count(*) FROM hh") == 6
    w.household("7", "w2", [])
    assert _one(w, w.w2, "SELECT count(*) FROM hh") == 2
    if w.db.dialect == "sqlite":
        with w.db.read() as conn:
            assert conn.exec_driver_sql("PRAGMA query_only").scalar_one() == 0


def test_a_refusal_from_the_database_is_a_chinese_validation_error(records: tuple[World, dict[str, int]]) -> None:
    w, _ = records
    sql = "SELECT worker, needs_count FROM visit GROUP BY worker"  # passes check, PostgreSQL refuses it
    if w.db.dialect == "sqlite":
        sql = "SELECT worker FROM visit WHERE nonexistent_fn(worker) = 1"
        q = _unchecked(w, sql)
    else:
        q = check(sql, w.db.dialect)
    with pytest.raises(QueryFailed) as err:
        run(w.db, w.visits.roster.scope(w.admin), q, today=today())
    assert isinstance(err.value, ValidationError) and CHINESE.search(str(err.value))
    with pytest.raises(UnsafeQuery, match="另一种数据库"):
        other = "postgres" if w.db.dialect == "sqlite" else "sqlite"
        run(w.db, w.visits.roster.scope(w.admin), check("SELECT 1", other), today=today())


def test_percent_signs_and_month_grouping_run_on_both_engines(records: tuple[World, dict[str, int]]) -> None:
    w, _ = records
    month = _day(3)[:7]
    assert _ask(w, w.sup, "SELECT substr(visited_on, 1, 7) AS m, count(*) AS n FROM visit GROUP BY m")[1] == [(month, 3)]
    assert _one(w, w.sup, "SELECT count(*) FROM hh WHERE tags LIKE '%独居老人%'") == 2
    assert _one(w, w.sup, "SELECT '100%' AS x FROM hh LIMIT 1") == "100%"
    helper = ("strftime('%Y-%m', visited_on)" if w.db.dialect == "sqlite"
              else "to_char(CAST(visited_on AS DATE), 'YYYY-MM')")
    assert _ask(w, w.sup, f"SELECT {helper} AS m, count(*) AS n FROM visit GROUP BY m")[1] == [(month, 3)]
    days = ("julianday(raised_on) - julianday(due_on)" if w.db.dialect == "sqlite"
            else "CAST(raised_on AS DATE) - CAST(due_on AS DATE)")
    assert _one(w, w.sup, f"SELECT {days} AS d FROM followup WHERE due_on <> ''") == -2
