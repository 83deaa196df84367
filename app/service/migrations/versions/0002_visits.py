"""The visit module (智慧走四百): the operator's regions below the street, households and their
members, cover shares, visits, follow-ups, the append-only access log and the visit switches; and
``users.supervises`` (a region whose households an account may see as a supervisor).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_APPEND_ONLY_SQLITE = """
CREATE TRIGGER access_log_no_{op} BEFORE {OP} ON access_log
BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END
"""
_APPEND_ONLY_PG_FN = """
CREATE OR REPLACE FUNCTION access_log_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'access_log is append-only'; END $$ LANGUAGE plpgsql
"""
_APPEND_ONLY_PG = """
CREATE TRIGGER access_log_no_{op} BEFORE {OP} ON access_log
FOR EACH ROW EXECUTE FUNCTION access_log_append_only()
"""


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("supervises", sa.Text, nullable=False, server_default=""))
    op.create_table(
        "local_regions",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("parent", sa.Text, nullable=False),
        sa.Column("demo", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_by", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.Text, nullable=False),
    )
    op.create_table(
        "households",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("juwei", sa.Text, nullable=False),
        sa.Column("xiaoqu", sa.Text, nullable=False, server_default=""),
        sa.Column("building", sa.Text, nullable=False, server_default=""),
        sa.Column("room", sa.Text, nullable=False, server_default=""),
        sa.Column("address_key", sa.Text, nullable=False, unique=True),
        sa.Column("worker_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("tags_json", sa.Text, nullable=False, server_default="[]"),
        sa.Column("status", sa.Text, nullable=False, server_default="在住"),
        sa.Column("status_on", sa.Text, nullable=False, server_default=""),
        sa.Column("notes", sa.Text, nullable=False, server_default=""),
        sa.Column("last_visit_on", sa.Text, nullable=False, server_default=""),
        sa.Column("last_contact_on", sa.Text, nullable=False, server_default=""),
        sa.Column("last_risk", sa.Text, nullable=False, server_default="正常"),
        sa.Column("urgent_open", sa.Integer, nullable=False, server_default="0"),
        sa.Column("demo", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
    )
    op.create_index("households_worker", "households", ["worker_id", "status"])
    op.create_index("households_juwei", "households", ["juwei", "status"])
    op.create_table(
        "members",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("household_id", sa.Integer, sa.ForeignKey("households.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("relation", sa.Text, nullable=False, server_default=""),
        sa.Column("birth_year", sa.Integer),
        sa.Column("phone", sa.Text, nullable=False, server_default=""),
        sa.Column("id_card", sa.Text, nullable=False, server_default=""),
        sa.Column("tags_json", sa.Text, nullable=False, server_default="[]"),
        sa.Column("notes", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("members_household", "members", ["household_id"])
    op.create_table(
        "household_shares",
        sa.Column("household_id", sa.Integer, sa.ForeignKey("households.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("until", sa.Text, nullable=False, server_default=""),
        sa.Column("granted_by", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
    )
    op.create_index("household_shares_user", "household_shares", ["user_id"])
    op.create_table(
        "visits",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("client_id", sa.Text, nullable=False, unique=True),
        sa.Column("household_id", sa.Integer, sa.ForeignKey("households.id", ondelete="CASCADE"), nullable=False),
        sa.Column("worker_id", sa.Integer, nullable=False),
        sa.Column("visited_on", sa.Text, nullable=False),
        sa.Column("method", sa.Text, nullable=False),
        sa.Column("met", sa.Integer, nullable=False),
        sa.Column("checklist_json", sa.Text, nullable=False, server_default="{}"),
        sa.Column("needs_json", sa.Text, nullable=False, server_default="[]"),
        sa.Column("risk", sa.Text, nullable=False, server_default="正常"),
        sa.Column("risk_signs_json", sa.Text, nullable=False, server_default="[]"),
        sa.Column("referral", sa.Text, nullable=False, server_default=""),
        sa.Column("notes", sa.Text, nullable=False, server_default=""),
        sa.Column("acknowledged_by", sa.Integer),
        sa.Column("acknowledged_at", sa.Text, nullable=False, server_default=""),
        sa.Column("demo", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Text, nullable=False),
    )
    op.create_index("visits_household", "visits", ["household_id", "visited_on"])
    op.create_index("visits_worker", "visits", ["worker_id", "visited_on"])
    op.create_index("visits_day", "visits", ["visited_on"])
    needs = sa.text("needs_json != '[]'")
    op.create_index("visits_with_needs", "visits", ["visited_on"], sqlite_where=needs, postgresql_where=needs)
    urgent = sa.text("risk = '紧急' AND acknowledged_at = ''")
    op.create_index("visits_urgent_open", "visits", ["household_id"], sqlite_where=urgent, postgresql_where=urgent)
    op.create_table(
        "followups",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("visit_id", sa.Integer, sa.ForeignKey("visits.id", ondelete="CASCADE"), nullable=False),
        sa.Column("household_id", sa.Integer, sa.ForeignKey("households.id", ondelete="CASCADE"), nullable=False),
        sa.Column("item", sa.Text, nullable=False),
        sa.Column("owner", sa.Text, nullable=False, server_default=""),
        sa.Column("due_on", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.Text, nullable=False, server_default="open"),
        sa.Column("close_note", sa.Text, nullable=False, server_default=""),
        sa.Column("closed_by", sa.Integer),
        sa.Column("closed_at", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.Text, nullable=False),
    )
    op.create_index("followups_household", "followups", ["household_id", "status"])
    op.create_index("followups_open", "followups", ["status", "due_on"])
    op.create_table(
        "access_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False, server_default=""),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("access_log_at", "access_log", ["at"])
    op.create_table(
        "visit_flags",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value_json", sa.Text, nullable=False),
        sa.Column("updated_by", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_APPEND_ONLY_PG_FN)
        for name in ("update", "delete"):
            op.execute(_APPEND_ONLY_PG.format(op=name, OP=name.upper()))
    else:
        for name in ("update", "delete"):
            op.execute(_APPEND_ONLY_SQLITE.format(op=name, OP=name.upper()))


def downgrade() -> None:
    for name in ("visit_flags", "access_log", "followups", "visits", "household_shares", "members",
                 "households", "local_regions"):
        op.drop_table(name)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS access_log_append_only()")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("supervises")
