"""问数: the guard and the runner for SQL a model wrote over the visit records.

The model is shown three views (:data:`VIEWS`, non-identifying columns only) and writes one query.
:func:`check` parses it with sqlglot and allows only what is listed here: one SELECT (set operations
and non-recursive CTEs at its head), the three views and the query's own CTEs, their declared columns,
a short list of functions and cast types; it adds or clamps the LIMIT. The text that runs is
sqlglot's rendering of the checked tree (comments dropped), never the model's own text, so the
database reads exactly what was checked.

:func:`run` makes the views' names mean the caller's rows: the query runs under CTEs ``hh``,
``visit``, ``followup`` built here from the base tables and the caller's :class:`Scope`, so whatever
the query says it sees only households in scope, and visits and follow-ups through them. It runs
read-only with a time-out, and the database holds it there even for text that skipped the check:
on PostgreSQL a READ ONLY transaction with ``statement_timeout`` as the role ``shegong_askdata``,
which reads only the views' columns and, by row-level security, only the asker's households
(migration 0003), one statement over the extended protocol; on SQLite ``PRAGMA query_only``, a
progress handler for the time-out and an authorizer that allows reads of the columns the views
use and listed functions.

>>> checked = check("SELECT juwei, count(*) AS n FROM hh GROUP BY juwei", db.dialect)   # doctest: +SKIP
>>> columns, rows = run(db, scope, checked, today=today())                              # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlglot
from sqlalchemy import JSON, Select, case, cast, func, literal, select
from sqlalchemy import Column as SAColumn
from sqlalchemy import Table as SATable
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql import visitors
from sqlglot import exp
from sqlglot.errors import ErrorLevel, OptimizeError, ParseError, SqlglotError, TokenError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope as SqlScope
from sqlglot.optimizer.scope import traverse_scope

from app.core.errors import ValidationError
from app.service.db import ServiceDB
from app.service.tables import followups, households, metadata, users, visits
from app.service.visits.people import METHODS, RISKS, STATUSES
from app.service.visits.scope import Scope

MAX_ROWS = 500
MAX_SQL_CHARS = 4000
TIMEOUT_S = 2.0


class UnsafeQuery(ValidationError):
    """SQL that :func:`check` refuses; the message says what was refused."""

    code = "unsafe_query"


class QueryFailed(ValidationError):
    """A checked query the database stopped (time-out) or refused."""

    code = "query_failed"


# -- what the model may see ---------------------------------------------------------------------
@dataclass(frozen=True)
class View:
    name: str
    about: str
    columns: tuple[tuple[str, str, str], ...]  # (name, "INT" | "TEXT", meaning)

    @property
    def column_names(self) -> frozenset[str]:
        return frozenset(c for c, _, _ in self.columns)


_DAY = "日期文本 'YYYY-MM-DD'"
VIEWS: dict[str, View] = {v.name: v for v in (
    View("hh", "住户，一户一行", (
        ("id", "INT", "住户编号"),
        ("juwei", "TEXT", "所属居委"),
        ("xiaoqu", "TEXT", "小区"),
        ("building", "TEXT", "楼号"),
        ("room", "TEXT", "室号"),
        ("worker", "TEXT", "负责社工的用户名；未分配为 ''"),
        ("tags", "TEXT", "住户标签，多个用“、”连接，如 '独居老人、高龄'；没有为 ''；按标签筛选写 tags LIKE '%独居老人%'"),
        ("status", "TEXT", f"住户状态：{'、'.join(STATUSES)}"),
        ("last_visit_on", "TEXT", f"最近一次入户并见到人的{_DAY}；没有为 ''"),
        ("last_contact_on", "TEXT", f"最近一次见到或联系上（任何方式）的{_DAY}；没有为 ''"),
        ("last_risk", "TEXT", f"最近一次走访的风险等级：{'、'.join(RISKS)}"),
        ("urgent_open", "INT", "有尚未确认的紧急走访为 1，否则 0"),
    )),
    View("visit", "走访记录，一次走访一行", (
        ("id", "INT", "走访记录编号"),
        ("household_id", "INT", "住户编号（hh.id）"),
        ("juwei", "TEXT", "住户所属居委"),
        ("building", "TEXT", "住户楼号"),
        ("worker", "TEXT", "记录这次走访的社工用户名"),
        ("visited_on", "TEXT", f"走访{_DAY}"),
        ("method", "TEXT", f"走访方式：{'、'.join(METHODS)}"),
        ("met", "INT", "见到或联系上为 1，未遇为 0"),
        ("risk", "TEXT", f"风险等级：{'、'.join(RISKS)}"),
        ("needs_count", "INT", "这次登记的诉求条数"),
        ("acknowledged", "INT", "紧急情况已有人确认为 1，否则 0"),
    )),
    View("followup", "跟进事项，一项一行", (
        ("id", "INT", "跟进事项编号"),
        ("household_id", "INT", "住户编号（hh.id）"),
        ("juwei", "TEXT", "住户所属居委"),
        ("building", "TEXT", "住户楼号"),
        ("owner", "TEXT", "负责跟进的人（一般是社工用户名）"),
        ("due_on", "TEXT", f"期限，{_DAY}；没有期限为 ''"),
        ("status", "TEXT", "'open' 未办结，'closed' 已办结"),
        ("raised_on", "TEXT", f"提出这项跟进的走访{_DAY}"),
        ("closed_at", "TEXT", "办结时间（UTC，如 '2026-11-30T08:00:00+00:00'）；未办结为 ''"),
    )),
)}


@dataclass(frozen=True)
class Function:
    written: str  # how the prompt shows it
    keys: tuple[str, ...]  # sqlglot's expression keys for it (an unknown function: its own name)
    dialects: tuple[str, ...] = ("sqlite", "postgres")


FUNCTIONS: tuple[Function, ...] = (
    Function("count(*) / count(DISTINCT x)", ("count",)),
    Function("sum", ("sum",)),
    Function("avg", ("avg",)),
    Function("min", ("min",)),
    Function("max", ("max",)),
    Function("round", ("round",)),
    Function("abs", ("abs",)),
    Function("coalesce", ("coalesce",)),
    Function("nullif", ("nullif",)),
    Function("length", ("length",)),
    Function("substr(x, 起, 长)", ("substring",)),
    Function("lower", ("lower",)),
    Function("upper", ("upper",)),
    Function("trim", ("trim",)),
    Function("replace", ("replace",)),
    Function("CAST(x AS 类型)", ("cast",)),
    Function("CASE WHEN … THEN … ELSE … END", ("case", "if")),
    Function("EXISTS (子查询)", ("exists",)),
    Function("group_concat(x, '、')", ("groupconcat",), ("sqlite",)),
    Function("string_agg(x, '、')", ("groupconcat",), ("postgres",)),
    Function("strftime('%Y-%m', d)", ("timetostr", "tsordstotimestamp"), ("sqlite",)),
    Function("date(d, '+7 days')", ("date",), ("sqlite",)),
    Function("julianday(d)", ("julianday",), ("sqlite",)),
    Function("to_char(CAST(d AS DATE), 'YYYY-MM')", ("timetostr",), ("postgres",)),
    Function("EXTRACT(MONTH FROM CAST(d AS DATE))", ("extract",), ("postgres",)),
)
"""The functions a query may call, per dialect (sqlglot's dialect names)."""

SQLITE_FUNCTIONS = frozenset({
    "count", "sum", "avg", "min", "max", "round", "abs", "coalesce", "nullif", "length", "substr", "substring",
    "lower", "upper", "trim", "replace", "iif", "group_concat", "strftime", "date", "julianday",
    "like",  # LIKE is a function call to SQLite
    "json_each", "json_array_length",  # the views' own
})
"""The functions SQLite's authorizer allows: those sqlglot renders :data:`FUNCTIONS` as, and the views'."""

CAST_TYPES = frozenset({
    exp.DataType.Type.TEXT, exp.DataType.Type.VARCHAR, exp.DataType.Type.CHAR, exp.DataType.Type.INT,
    exp.DataType.Type.BIGINT, exp.DataType.Type.SMALLINT, exp.DataType.Type.FLOAT, exp.DataType.Type.DOUBLE,
    exp.DataType.Type.DECIMAL, exp.DataType.Type.DATE,
})

# The grammar a query may use besides functions: anything else (locks, INTO, VALUES, LATERAL,
# parameters, windows, arrays, dotted paths, ...) is refused by name.
NODES: tuple[type[exp.Expression], ...] = (
    exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery, exp.With, exp.CTE, exp.From, exp.Join,
    exp.Where, exp.Group, exp.Having, exp.Order, exp.Ordered, exp.Limit, exp.Offset, exp.Distinct,
    exp.Alias, exp.TableAlias, exp.Table, exp.Column, exp.Identifier, exp.Star, exp.Literal, exp.Null,
    exp.Boolean, exp.Paren, exp.Tuple, exp.DataType, exp.DataTypeParam, exp.Interval, exp.Var,
    exp.Neg, exp.Not, exp.And, exp.Or, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.DPipe,
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Is, exp.In, exp.Between, exp.Like, exp.ILike,
)
_NODES = frozenset(NODES)

_STATEMENTS = {"insert": "INSERT", "update": "UPDATE", "delete": "DELETE", "merge": "MERGE", "drop": "DROP",
               "create": "CREATE", "alter": "ALTER", "pragma": "PRAGMA", "attach": "ATTACH", "detach": "DETACH",
               "copy": "COPY", "grant": "GRANT", "revoke": "REVOKE", "set": "SET", "transaction": "BEGIN",
               "commit": "COMMIT", "rollback": "ROLLBACK", "values": "VALUES", "use": "USE"}


def sqlglot_dialect(dialect: str) -> str:
    """sqlglot's name for a SQLAlchemy dialect name ("postgresql" → "postgres")."""
    d = {"postgresql": "postgres", "postgres": "postgres", "sqlite": "sqlite"}.get(dialect)
    if d is None:
        raise ValueError(f"unknown dialect {dialect!r}")
    return d


def _functions(dialect: str) -> dict[str, Function]:
    return {k: f for f in FUNCTIONS if dialect in f.dialects for k in f.keys}


def schema_text(dialect: str = "sqlite") -> str:
    """The views, their columns and the allowed functions, in Chinese, for a prompt."""
    d = sqlglot_dialect(dialect)
    engine = "PostgreSQL" if d == "postgres" else "SQLite"
    lines = [f"数据库：{engine}。只能写一条 SELECT 查询，只能用下面三个视图和它们的列；可以用 WITH 定义中间结果（不能递归）。"]
    for v in VIEWS.values():
        lines.append(f"\n视图 {v.name}（{v.about}）：")
        lines += [f"- {name}（{'整数' if kind == 'INT' else '文本'}）：{about}" for name, kind, about in v.columns]
    lines.append("\n日期都是 'YYYY-MM-DD' 文本，按月分组用 substr(visited_on, 1, 7)，按日期范围用 "
                 "visited_on BETWEEN '2026-11-01' AND '2026-11-30'；'' 表示没有日期，计算前先排除。")
    if d == "postgres":
        lines.append("相差天数：CAST('2026-11-30' AS DATE) - CAST(due_on AS DATE)。")
    else:
        lines.append("相差天数：julianday('2026-11-30') - julianday(due_on)。")
    shown = [f.written for f in FUNCTIONS if d in f.dialects]
    lines.append("可用函数：" + "、".join(shown) + "；运算符 + - * / %、||、比较、AND/OR/NOT、IN、BETWEEN、LIKE、IS NULL。")
    lines.append(f"结果最多 {MAX_ROWS} 行。")
    return "\n".join(lines)


# -- the check ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckedQuery:
    """A query :func:`check` allowed: ``sql`` to show, ``ctes`` and ``body`` to run under the views."""

    sql: str
    dialect: str  # sqlglot's name: "sqlite" or "postgres"
    body: str  # the query without its WITH
    ctes: str = ""  # the query's own CTEs, "a AS (…), b AS (…)", or ""
    limit: int = MAX_ROWS


def check(sql: str, dialect: str, *, max_rows: int = MAX_ROWS) -> CheckedQuery:
    """Parse and check a model's SQL; raise :class:`UnsafeQuery` saying what was refused."""
    d = sqlglot_dialect(dialect)
    if len(sql) > MAX_SQL_CHARS:
        raise UnsafeQuery(f"SQL 太长（{len(sql)} 个字符，最多 {MAX_SQL_CHARS} 个）。")
    try:
        tree = normalize_identifiers(_parse_one(sql, d), dialect=d)
        _check_nodes(tree, d)
        _check_tables(tree)
        _check_columns(tree, d)
        limit = _set_limit(tree, max_rows)
        return _render(tree, d, limit)
    except RecursionError as exc:
        raise UnsafeQuery("查询嵌套太深，请写得简单一些。") from exc


def _parse_one(sql: str, d: str) -> exp.Expression:
    try:
        trees = [t for t in sqlglot.parse(sql, read=d, error_level=ErrorLevel.RAISE) if t is not None]
    except (ParseError, TokenError) as exc:
        where = ""
        errors = getattr(exc, "errors", None)
        if errors and errors[0].get("line"):
            where = f"（第 {errors[0]['line']} 行第 {errors[0]['col']} 列附近）"
        raise UnsafeQuery(f"无法解析这条 SQL{where}，只允许一条 SELECT 查询。") from exc
    except (SqlglotError, RecursionError) as exc:
        raise UnsafeQuery("无法解析这条 SQL，只允许一条 SELECT 查询。") from exc
    if len(trees) != 1:
        raise UnsafeQuery(f"只允许一条 SELECT 查询（这里有 {len(trees)} 条语句）。")
    tree = trees[0]
    if not isinstance(tree, exp.Select | exp.SetOperation):
        kind = _STATEMENTS.get(tree.key)
        if kind is None and isinstance(tree, exp.Command):
            kind = str(tree.this).upper()
        raise UnsafeQuery(f"只允许一条 SELECT 查询，不允许 {kind or tree.key.upper()} 语句。")
    return tree


def _check_nodes(tree: exp.Expression, d: str) -> None:
    allowed = _functions(d)
    for node in tree.walk():
        if isinstance(node, exp.Select):
            if node.args.get("into"):
                raise UnsafeQuery("不允许 SELECT INTO（只能读，不能建表）。")
            if node.args.get("locks"):
                raise UnsafeQuery("不允许 FOR UPDATE / FOR SHARE（只能读，不能加锁）。")
        if isinstance(node, exp.With):
            if node.args.get("recursive"):
                raise UnsafeQuery("不允许 WITH RECURSIVE（递归查询）。")
            if node.parent is not tree:
                raise UnsafeQuery("WITH 只能写在整条查询的最前面。")
        if type(node) in _NODES:
            pass
        elif isinstance(node, exp.Func):
            name = node.name.lower() if isinstance(node, exp.Anonymous) else node.key
            if name not in allowed:
                shown = node.name if isinstance(node, exp.Anonymous) else node.sql_name().lower()
                raise UnsafeQuery(f"不允许使用函数 {shown}。")
        else:
            raise UnsafeQuery(f"不支持这种写法：{_snippet(node, d)}。")
        if isinstance(node, exp.DataType) and node.this not in CAST_TYPES:
            raise UnsafeQuery(f"不允许转换成类型 {node.sql(d)}。")
        if isinstance(node, exp.Limit | exp.Offset):
            value = node.expression
            if not (isinstance(value, exp.Literal) and not value.is_string and value.this.isdigit()):
                raise UnsafeQuery("LIMIT / OFFSET 只能是整数。")
        if isinstance(node, exp.Var) and not isinstance(node.parent, exp.Extract | exp.Interval | exp.DataType):
            raise UnsafeQuery(f"不支持这种写法：{_snippet(node, d)}。")
        if isinstance(node, exp.Column) and (node.args.get("db") or node.args.get("catalog")):
            raise UnsafeQuery(f"不允许使用列 {node.sql(d)}（最多写成 表.列）。")


def _snippet(node: exp.Expr, d: str) -> str:
    try:
        text = node.sql(d, comments=False)
    except SqlglotError:
        text = node.key.upper()
    return text if len(text) <= 40 else text[:40] + "…"


def _check_tables(tree: exp.Expression) -> None:
    """Every table is a view or a CTE of this query defined before it (a CTE sees only earlier ones)."""
    with_ = tree.args.get("with_")
    ctes: list[str] = [c.alias_or_name for c in with_.expressions] if with_ else []
    reserved = set(VIEWS) | set(metadata.tables) | {"alembic_version"}
    for name in ctes:
        if name in reserved:
            raise UnsafeQuery(f"WITH 的名字 {name} 与视图或表重名，请换一个名字。")
    if len(set(ctes)) != len(ctes):
        raise UnsafeQuery("WITH 里有重名的中间结果。")
    for table in tree.find_all(exp.Table):
        shown = ".".join(p.name for p in table.parts) if table.parts else table.sql()
        if not isinstance(table.this, exp.Identifier) or table.args.get("db") or table.args.get("catalog"):
            raise UnsafeQuery(f"不允许访问表 {shown}。")
        cte = table.find_ancestor(exp.CTE)
        visible = ctes[:ctes.index(cte.alias_or_name)] if cte is not None else ctes
        if table.name not in VIEWS and table.name not in visible:
            raise UnsafeQuery(f"不允许访问表 {shown}，只能用 {'、'.join(VIEWS)}。")


def _check_columns(tree: exp.Expression, d: str) -> None:
    """Every column is a declared one of the view it comes from, or a name the query gives itself."""
    own = {a.alias for a in tree.find_all(exp.Alias)} | {
        i.name for t in tree.find_all(exp.TableAlias) for i in t.columns}
    _columns_in(tree, own, qualified_only=True)  # as written first, for the message
    schema: dict[str, object] = {v.name: {c: kind for c, kind, _ in v.columns} for v in VIEWS.values()}
    try:
        qualified = qualify(tree.copy(), dialect=d, schema=schema, validate_qualify_columns=False,
                            quote_identifiers=False, identify=False)
    except (OptimizeError, SqlglotError) as exc:
        raise UnsafeQuery(f"查询里有无法确认来源的列（{exc}）。") from exc
    _columns_in(qualified, own, qualified_only=False)


def _columns_in(tree: exp.Expression, own: set[str], *, qualified_only: bool) -> None:
    for scope in traverse_scope(tree):
        for col in scope.columns:
            shown = f"{col.table}.{col.name}" if col.table else col.name
            if not col.table:
                # What qualify could not place: the query's own alias, or a UNION's output column
                outputs = scope.expression.named_selects if isinstance(scope.expression, exp.SetOperation) else []
                if qualified_only or col.name in own or col.name in outputs:
                    continue
                raise UnsafeQuery(f"不允许使用列 {shown}（不在视图的列里）。")
            source = _source(scope, col.table)
            if source is None:
                raise UnsafeQuery(f"不允许使用列 {shown}（找不到表 {col.table}）。")
            if isinstance(source, exp.Table):
                view = VIEWS.get(source.name)
                if view is None or (col.name not in view.column_names and col.name != "*"):
                    raise UnsafeQuery(f"不允许使用列 {shown}（视图 {source.name} 没有这一列）。")
            elif isinstance(source, SqlScope) and col.name != "*":
                outputs = list(getattr(source.expression, "named_selects", []))
                if col.name not in outputs and col.name not in own:
                    raise UnsafeQuery(f"不允许使用列 {shown}。")


def _source(scope: SqlScope, name: str) -> Any:
    s: SqlScope | None = scope
    while s is not None:
        if name in s.sources:
            return s.sources[name]
        s = s.parent
    return None


def _set_limit(tree: exp.Expression, max_rows: int) -> int:
    limit = tree.args.get("limit")
    n = int(limit.expression.this) if isinstance(limit, exp.Limit) else max_rows
    n = min(n, max_rows)
    tree.set("limit", exp.Limit(expression=exp.Literal.number(n)))
    return n


def _render(tree: exp.Expression, d: str, limit: int) -> CheckedQuery:
    def text(node: exp.Expression) -> str:
        return node.sql(d, comments=False, unsupported_level=ErrorLevel.RAISE)

    try:
        shown = text(tree)
        body = tree.copy()
        with_ = body.args.get("with_")
        body.set("with_", None)
        ctes = ", ".join(text(c) for c in with_.expressions) if with_ else ""
        return CheckedQuery(sql=shown, dialect=d, body=text(body), ctes=ctes, limit=limit)
    except SqlglotError as exc:
        raise UnsafeQuery(f"这条查询无法在本数据库上执行（{exc}）。") from exc


# -- the views, in scope ----------------------------------------------------------------------------
def _username(user_id: Any) -> Any:
    return func.coalesce(select(users.c.username).where(users.c.id == user_id).scalar_subquery(), "")


def _tags(d: str) -> Any:
    if d == "postgres":
        t = func.json_array_elements_text(cast(households.c.tags_json, JSON)).table_valued(
            "value", with_ordinality="ord").render_derived()
        joined = select(func.string_agg(t.c.value, aggregate_order_by(literal("、"), t.c.ord))).scalar_subquery()
    else:
        t = func.json_each(households.c.tags_json).table_valued("value")
        joined = select(func.group_concat(t.c.value, "、")).scalar_subquery()
    return func.coalesce(joined, "")


def _needs_count(d: str) -> Any:
    needs = cast(visits.c.needs_json, JSON) if d == "postgres" else visits.c.needs_json
    return func.json_array_length(needs)


def view_selects(d: str, scope: Scope, today: dt.date) -> dict[str, Select[Any]]:
    """Each view as a SELECT over the base tables, only the rows ``scope`` sees on ``today``."""
    h, v, f = households.c, visits.c, followups.c
    in_scope = scope.clause(today)
    hh = select(h.id, h.juwei, h.xiaoqu, h.building, h.room, _username(h.worker_id).label("worker"),
                _tags(d).label("tags"), h.status, h.last_visit_on, h.last_contact_on, h.last_risk,
                h.urgent_open).where(in_scope)
    visit = (select(v.id, v.household_id, h.juwei, h.building, _username(v.worker_id).label("worker"), v.visited_on,
                    v.method, v.met, v.risk, _needs_count(d).label("needs_count"),
                    case((v.acknowledged_at != "", 1), else_=0).label("acknowledged"))
             .select_from(visits.join(households, h.id == v.household_id)).where(in_scope))
    followup = (select(f.id, f.household_id, h.juwei, h.building, f.owner, f.due_on, f.status,
                       v.visited_on.label("raised_on"), f.closed_at)
                .select_from(followups.join(households, h.id == f.household_id).join(visits, v.id == f.visit_id))
                .where(in_scope))
    return {"hh": hh, "visit": visit, "followup": followup}


def _read_columns(queries: Sequence[Select[Any]]) -> frozenset[tuple[str, str]]:
    """The (table, column) pairs the views read: all SQLite's authorizer lets a query read."""
    out: set[tuple[str, str]] = set()
    for q in queries:
        for node in visitors.iterate(q):
            if isinstance(node, SAColumn) and isinstance(node.table, SATable):
                out.add((node.table.name, node.name))
    return frozenset(out)


@dataclass(frozen=True)
class Wrapped:
    """What runs: the checked query under the views as CTEs, its parameters (the scope's values,
    positional), and the base columns the views read."""

    sql: str
    params: tuple[Any, ...]
    readable: frozenset[tuple[str, str]]


def wrap(db: ServiceDB, scope: Scope, checked: CheckedQuery, today: dt.date) -> Wrapped:
    """The checked query with ``hh``, ``visit``, ``followup`` defined as the caller's rows."""
    d = sqlglot_dialect(db.dialect)
    if checked.dialect != d:
        raise UnsafeQuery("这条查询是按另一种数据库检查的，请重新检查。")
    selects = view_selects(d, scope, today)
    # Positional parameters, so that three separately compiled views cannot clash on a name
    dialect = postgresql.psycopg.dialect(paramstyle="format") if d == "postgres" else sqlite.dialect()
    parts: list[str] = []
    params: list[Any] = []
    for name, q in selects.items():
        compiled = q.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        parts.append(f"{name} AS ({compiled})")
        params += [compiled.params[p] for p in compiled.positiontup or ()]
    head = f"WITH {', '.join(parts)}, " if checked.ctes else f"WITH {', '.join(parts)} "
    tail = f"{checked.ctes} {checked.body}" if checked.ctes else checked.body
    if d == "postgres":
        tail = tail.replace("%", "%%")  # psycopg reads % as a placeholder wherever parameters are passed
    return Wrapped(head + tail, tuple(params), _read_columns(list(selects.values())))


# -- running ----------------------------------------------------------------------------------------
Rows = tuple[list[str], list[tuple[Any, ...]]]


def run(db: ServiceDB, scope: Scope, checked: CheckedQuery, *, today: dt.date, timeout_s: float = TIMEOUT_S,
        max_rows: int = MAX_ROWS) -> Rows:
    """Run a checked query over the caller's rows, read-only, within ``timeout_s``: (columns, rows)."""
    w = wrap(db, scope, checked, today)
    return execute_readonly(db, w.sql, w.params, timeout_s=timeout_s, max_rows=min(max_rows, checked.limit),
                            readable=w.readable, scope=scope, today=today)


def execute_readonly(db: ServiceDB, sql: str, params: Sequence[Any] | None = None, *, timeout_s: float = TIMEOUT_S,
                     max_rows: int = MAX_ROWS, readable: frozenset[tuple[str, str]] = frozenset(),
                     scope: Scope | None = None, today: dt.date | None = None) -> Rows:
    """Run one statement (positional ``params``: ``?`` on SQLite, ``%s`` on PostgreSQL) on a
    connection that cannot write, stopped after ``timeout_s``.

    On SQLite it may read only the (table, column) pairs in ``readable`` and call only
    :data:`SQLITE_FUNCTIONS`. On PostgreSQL it runs as the role ``shegong_askdata`` (migration
    0003): the columns the views read, and by row-level security only the households of ``scope``
    on ``today`` (none without a scope), with their visits and follow-ups.

    These are the database's own defences, whatever the text; :func:`run` passes only checked queries."""
    try:
        if db.dialect == "postgresql":
            return _run_postgres(db, sql, params, timeout_s, max_rows, scope, today or dt.date.today())
        return _run_sqlite(db, sql, params, timeout_s, max_rows, readable)
    except _TimedOut as exc:
        raise QueryFailed(f"查询超时（{timeout_s:g} 秒），请把问题问得更具体一些。") from exc
    except _Refused as exc:
        raise QueryFailed(_refusal(exc.orig)) from exc


def _plain(value: Any) -> Any:
    """A value as JSON has it: PostgreSQL's numerics, dates and intervals become numbers and text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


class _TimedOut(Exception):
    pass


class _Refused(Exception):
    def __init__(self, orig: BaseException) -> None:
        super().__init__(str(orig))
        self.orig = orig


def _refusal(orig: BaseException) -> str:
    """The database's refusal in Chinese (its own words kept, short, for the model's next try)."""
    lines = str(orig).strip().splitlines()
    text = lines[0] if lines else type(orig).__name__
    state = getattr(orig, "sqlstate", None)
    if state == "25006" or "readonly" in text or "read-only" in text:
        return "数据库拒绝了写入：问数只能读数据。"
    if state == "42501" or "not authorized" in text or "prohibited" in text:
        return "数据库拒绝了这条查询：用到了不允许读的表、列或函数。"
    if "one statement" in text or "multiple commands" in text:
        return "数据库拒绝了这条查询：只能执行一条语句。"
    return f"数据库无法执行这条查询，请换个问法（{text[:200]}）。"


ASK_ROLE = "shegong_askdata"


def _run_postgres(db: ServiceDB, sql: str, params: Sequence[Any] | None, timeout_s: float, max_rows: int,
                  scope: Scope | None, today: dt.date) -> Rows:
    with db.engine.connect() as conn:
        raw: Any = conn.connection.driver_connection
        _set_scope(conn, scope, today)
        tx = conn.begin()
        try:
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, round(timeout_s * 1000))}")
            try:
                conn.exec_driver_sql(f"SET LOCAL ROLE {ASK_ROLE}")
            except Exception as exc:
                if getattr(getattr(exc, "orig", None), "sqlstate", None) in ("22023", "42704", "42501"):
                    raise QueryFailed(f"数据库中没有问数专用的只读角色 {ASK_ROLE}，或本账号不能切换到它："
                                      "请管理员用有 CREATEROLE 权限的账号重新执行 shegong db upgrade。") from exc
                raise
            # binary=True sends it over the extended protocol: one statement, never "…; COMMIT; …"
            with raw.cursor() as cur:
                cur.execute(sql, None if params is None else tuple(params), binary=True)
                columns = [c.name for c in cur.description or []]
                rows = [tuple(_plain(v) for v in r) for r in cur.fetchmany(max_rows)]
        except Exception as exc:
            if getattr(exc, "sqlstate", None) == "57014":  # query_canceled: the statement_timeout
                raise _TimedOut() from exc
            if getattr(exc, "sqlstate", None):
                raise _Refused(exc) from exc
            raise
        finally:
            tx.rollback()
            _set_scope(conn, None, today)
    return columns, rows


def _set_scope(conn: Any, scope: Scope | None, today: dt.date) -> None:
    """The asker's scope as the row-level security of migration 0003 reads it (this connection's
    row of ``askdata_scope``), committed before the read-only transaction; ``None`` removes it."""
    with conn.begin():
        conn.exec_driver_sql("DELETE FROM askdata_scope WHERE pid = pg_backend_pid()")
        if scope is not None:
            conn.exec_driver_sql(
                "INSERT INTO askdata_scope (pid, everything, user_id, juwei, today) "
                "VALUES (pg_backend_pid(), %s, %s, %s, %s)",
                (scope.everything, scope.user.id, sorted(scope.juwei), today.isoformat()))


def _run_sqlite(db: ServiceDB, sql: str, params: Sequence[Any] | None, timeout_s: float, max_rows: int,
                readable: frozenset[tuple[str, str]]) -> Rows:
    deadline = time.monotonic() + timeout_s
    expired = False

    def progress() -> int:
        nonlocal expired
        expired = time.monotonic() > deadline
        return int(expired)

    with db.engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        authorize = _authorizer(readable, _sqlite_tables(raw))
        with _sqlite_guard(raw, authorize, progress):
            try:
                cur = raw.execute(sql, tuple(params or ()))
                try:
                    columns = [c[0] for c in cur.description or []]
                    rows = [tuple(_plain(v) for v in r) for r in cur.fetchmany(max_rows)]
                finally:
                    cur.close()
            except (sqlite3.Error, sqlite3.Warning) as exc:
                if expired:
                    raise _TimedOut() from exc
                raise _Refused(exc) from exc
    return columns, rows


_VIEW_BASES = frozenset({"households", "visits", "followups"})
_TABLE_FUNCTION_COLUMNS = frozenset({("json_each", "value")})  # how SQLite reports the views' json_each


def _authorizer(readable: frozenset[tuple[str, str]], real: frozenset[str]) -> Any:
    """SQLite's authorizer for one query: SELECT, reads of ``readable`` columns, count(*) over the
    views' tables and over the query's own CTEs (any name not a real table), listed functions;
    nothing else (no writes, DDL, PRAGMA, ATTACH, other tables or columns)."""

    def authorize(action: int, arg1: str | None, arg2: str | None, _db: str | None, _inner: str | None) -> int:
        if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_RECURSIVE):
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_READ:
            table, column = (arg1 or "").lower(), (arg2 or "").lower()
            if (table, column) in readable or (table, column) in _TABLE_FUNCTION_COLUMNS:
                return sqlite3.SQLITE_OK
            if not column and (table in _VIEW_BASES or table not in real):
                return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in SQLITE_FUNCTIONS:
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY

    return authorize


def _sqlite_tables(raw: sqlite3.Connection) -> frozenset[str]:
    """Every table and view in the database (lower case), and SQLite's own names."""
    rows = raw.execute("SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') UNION "
                       "SELECT name FROM sqlite_temp_schema WHERE type IN ('table', 'view')").fetchall()
    return frozenset({str(n).lower() for (n,) in rows} | {"sqlite_schema", "sqlite_master", "sqlite_temp_schema",
                                                           "sqlite_temp_master", "sqlite_sequence"})


@contextmanager
def _sqlite_guard(raw: sqlite3.Connection, authorize: Any, progress: Any) -> Iterator[None]:
    """Query-only, the authorizer and the progress handler for one statement, undone after it: the
    connection goes back to the pool as it came."""
    raw.execute("PRAGMA query_only = ON")
    try:
        # json_each's first use on a connection asks to write sqlite_schema (declaring the virtual
        # table), which the authorizer would refuse: make that first use now
        raw.execute("SELECT count(*) FROM json_each('[]')").fetchall()
        raw.set_authorizer(authorize)
        raw.set_progress_handler(progress, 1000)
        yield
    finally:
        raw.set_progress_handler(None, 0)
        raw.set_authorizer(None)
        raw.execute("PRAGMA query_only = OFF")
