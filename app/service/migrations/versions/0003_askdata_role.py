"""问数 on PostgreSQL: the database itself holds a model's query to the caller's rows.

A query a model wrote runs as the role ``shegong_askdata`` (``SET LOCAL ROLE`` inside a READ ONLY
transaction). That role may read only the columns the three 问数 views use, and row-level security
gives it only the households in the asker's scope, and visits and follow-ups through them. The
asker's scope is a row of ``askdata_scope`` keyed by the connection's backend pid, written by the
application before the query and unwritable by the role; custom settings are not used for it, since
any role may change those. Every other role keeps seeing every row (the ``app_rows`` policies), so
the application, backups and an operator's own roles work as before.

SQLite has no roles: there the authorizer of ``app.service.askdata.sql`` limits what a query reads.

Creating the role needs CREATEROLE. Where the migrating account lacks it, the upgrade goes on
without the role and the model's queries are refused with a message saying so; the grammar's
answers do not use this path.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ROLE = "shegong_askdata"

# What the 问数 views read (app.service.askdata.sql.view_selects); a test checks the two agree.
COLUMNS = {
    "households": ("id", "juwei", "xiaoqu", "building", "room", "worker_id", "tags_json", "status",
                   "last_visit_on", "last_contact_on", "last_risk", "urgent_open"),
    "visits": ("id", "household_id", "worker_id", "visited_on", "method", "met", "risk", "needs_json",
               "acknowledged_at"),
    "followups": ("id", "household_id", "visit_id", "owner", "due_on", "status", "closed_at"),
    "users": ("id", "username"),
    "household_shares": ("household_id", "user_id", "until"),
}

_CREATE_ROLE = f"""
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') THEN
    CREATE ROLE {ROLE} NOLOGIN;
  END IF;
EXCEPTION
  WHEN duplicate_object OR unique_violation THEN NULL;  -- another database of the cluster made it just now
  WHEN insufficient_privilege THEN RAISE NOTICE 'shegong: no CREATEROLE, 问数 SQL stays off';
END $$
"""
_JOIN_ROLE = f"""
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}')
     AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE format('GRANT {ROLE} TO %I', current_user);
  END IF;
EXCEPTION WHEN insufficient_privilege THEN RAISE NOTICE 'shegong: cannot join {ROLE}';
END $$
"""
_IN_SCOPE = """
EXISTS (SELECT 1 FROM askdata_scope s WHERE s.pid = pg_backend_pid() AND (
  s.everything OR households.worker_id = s.user_id OR households.juwei = ANY (s.juwei)
  OR households.id IN (SELECT hs.household_id FROM household_shares hs
                       WHERE hs.user_id = s.user_id AND (hs.until = '' OR hs.until >= s.today))))
"""
_POLICIES = {
    "households": _IN_SCOPE,
    "visits": "household_id IN (SELECT id FROM households)",  # households' own policy applies inside
    "followups": "household_id IN (SELECT id FROM households)",
    "household_shares": "user_id = (SELECT s.user_id FROM askdata_scope s WHERE s.pid = pg_backend_pid())",
    "askdata_scope": "pid = pg_backend_pid()",
}


def _role_exists() -> bool:
    return bool(op.get_bind().exec_driver_sql(f"SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}'").first())


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        CREATE TABLE askdata_scope (
          pid integer PRIMARY KEY,
          everything boolean NOT NULL,
          user_id integer NOT NULL,
          juwei text[] NOT NULL,
          today text NOT NULL
        )""")
    op.execute(_CREATE_ROLE)
    op.execute(_JOIN_ROLE)
    if _role_exists():
        op.execute(f"GRANT USAGE ON SCHEMA public TO {ROLE}")
        for table, cols in COLUMNS.items():
            op.execute(f"GRANT SELECT ({', '.join(cols)}) ON {table} TO {ROLE}")
        op.execute(f"GRANT SELECT ON askdata_scope TO {ROLE}")
    for table, using in _POLICIES.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY app_rows ON {table} USING (current_user <> '{ROLE}') "
                   f"WITH CHECK (current_user <> '{ROLE}')")
        op.execute(f"CREATE POLICY askdata_rows ON {table} AS PERMISSIVE FOR SELECT TO PUBLIC "
                   f"USING (current_user = '{ROLE}' AND {using})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _POLICIES:
        op.execute(f"DROP POLICY IF EXISTS askdata_rows ON {table}")
        op.execute(f"DROP POLICY IF EXISTS app_rows ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    if _role_exists():
        for table in COLUMNS:
            op.execute(f"REVOKE ALL ON {table} FROM {ROLE}")
    op.execute("DROP TABLE askdata_scope")
