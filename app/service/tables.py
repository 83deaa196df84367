"""The service's records as SQLAlchemy tables: accounts and tokens, conversations and their
messages, feedback, the review queue, curated test cases, the audit log and kept document versions;
and the visit module's roster, visits, follow-ups and access log (revision 0002).

The same tables run on SQLite (the default, ``DATA_DIR/service.sqlite3``) and on PostgreSQL; their
history is ``app/service/migrations`` (``shegong db upgrade``). Revision 0001 is the schema that the
code before SQLAlchemy wrote, so a data dir of that code is stamped at 0001 and upgraded from there.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, MetaData, Table, Text, text

from app.core.database import History

metadata = MetaData()

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True),
    Column("username", Text, nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("region", Text, nullable=False, server_default=""),
    Column("disabled", Integer, nullable=False, server_default="0"),
    Column("failed_logins", Integer, nullable=False, server_default="0"),
    Column("locked_until", Float, nullable=False, server_default="0"),
    Column("created_at", Text, nullable=False),
    # A region whose households this account may see as a supervisor (any role; 0002)
    Column("supervises", Text, nullable=False, server_default=""),
)

tokens = Table(
    "tokens", metadata,
    Column("token_hash", Text, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("label", Text, nullable=False, server_default=""),
    Column("created_at", Text, nullable=False),
    Column("expires_at", Float, nullable=False),
)

conversations = Table(
    "conversations", metadata,
    Column("id", Text, primary_key=True),
    Column("user_id", Integer, nullable=False),
    Column("title", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    Index("conversations_user", "user_id", "updated_at"),
)

messages = Table(
    "messages", metadata,
    Column("id", Integer, primary_key=True),
    Column("conversation_id", Text, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("refused", Integer, nullable=False),
    Column("mode", Text, nullable=False),
    Column("citations_json", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Index("messages_conv", "conversation_id", "id"),
)

feedback = Table(
    "feedback", metadata,
    Column("message_id", Integer, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True,
           autoincrement=False),
    Column("user_id", Integer, nullable=False),
    Column("rating", Integer, nullable=False),
    Column("comment", Text, nullable=False, server_default=""),
    Column("created_at", Text, nullable=False),
)

review = Table(
    "review", metadata,
    Column("message_id", Integer, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True,
           autoincrement=False),
    Column("status", Text, nullable=False),
    Column("note", Text, nullable=False, server_default=""),
    Column("resolved_by", Text, nullable=False, server_default=""),
    Column("resolved_at", Text, nullable=False, server_default=""),
)

curated_cases = Table(
    "curated_cases", metadata,
    Column("id", Integer, primary_key=True),
    Column("question", Text, nullable=False),
    Column("answerable", Integer, nullable=False),
    Column("evidence_json", Text, nullable=False),
    Column("answer_keywords_json", Text, nullable=False),
    Column("tags_json", Text, nullable=False),
    Column("source_message_id", Integer),
    Column("added_by", Text, nullable=False),
    Column("created_at", Text, nullable=False),
)

audit = Table(
    "audit", metadata,
    Column("id", Integer, primary_key=True),
    Column("at", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("detail", Text, nullable=False, server_default=""),
)

doc_versions = Table(
    "doc_versions", metadata,
    Column("id", Integer, primary_key=True),
    Column("doc_id", Text, nullable=False),
    Column("stored_path", Text, nullable=False),
    Column("meta_json", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("by", Text, nullable=False),
    Column("at", Text, nullable=False),
    Index("doc_versions_doc", "doc_id", "id"),
)

# -- the visit module (智慧走四百), revision 0002 -----------------------------------------------
# Dates a person means (visited on, due on) are ISO days in Asia/Shanghai, 'YYYY-MM-DD'; instants
# (created, closed) are UTC ISO timestamps, as in the tables above.

local_regions = Table(
    "local_regions", metadata,
    Column("name", Text, primary_key=True),
    Column("parent", Text, nullable=False),
    Column("demo", Integer, nullable=False, server_default="0"),
    Column("created_by", Text, nullable=False, server_default=""),
    Column("created_at", Text, nullable=False),
)
"""The operator's extension of ``knowledge/regions.yaml`` down to 居委 (and 小区 if wanted)."""

households = Table(
    "households", metadata,
    Column("id", Integer, primary_key=True),
    Column("juwei", Text, nullable=False),
    Column("xiaoqu", Text, nullable=False, server_default=""),
    Column("building", Text, nullable=False, server_default=""),
    Column("room", Text, nullable=False, server_default=""),
    Column("address_key", Text, nullable=False, unique=True),
    Column("worker_id", Integer, ForeignKey("users.id", ondelete="SET NULL")),
    Column("tags_json", Text, nullable=False, server_default="[]"),
    Column("status", Text, nullable=False, server_default="在住"),
    Column("status_on", Text, nullable=False, server_default=""),
    Column("notes", Text, nullable=False, server_default=""),
    # Kept by every saved visit, so that a plan never scans the visits
    Column("last_visit_on", Text, nullable=False, server_default=""),
    Column("last_contact_on", Text, nullable=False, server_default=""),
    Column("last_risk", Text, nullable=False, server_default="正常"),
    Column("urgent_open", Integer, nullable=False, server_default="0"),
    Column("demo", Integer, nullable=False, server_default="0"),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    Index("households_worker", "worker_id", "status"),
    Index("households_juwei", "juwei", "status"),
)

members = Table(
    "members", metadata,
    Column("id", Integer, primary_key=True),
    Column("household_id", Integer, ForeignKey("households.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("relation", Text, nullable=False, server_default=""),
    Column("birth_year", Integer),
    Column("phone", Text, nullable=False, server_default=""),
    Column("id_card", Text, nullable=False, server_default=""),  # only with SHEGONG_VISIT_STORE_ID_CARD
    Column("tags_json", Text, nullable=False, server_default="[]"),
    Column("notes", Text, nullable=False, server_default=""),
    Index("members_household", "household_id"),
)

household_shares = Table(
    "household_shares", metadata,
    Column("household_id", Integer, ForeignKey("households.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("until", Text, nullable=False, server_default=""),  # last day of the cover, '' = until revoked
    Column("granted_by", Integer, nullable=False),
    Column("created_at", Text, nullable=False),
    Index("household_shares_user", "user_id"),
)
"""Households a supervisor lends to another worker for cover (leave, sickness)."""

visits = Table(
    "visits", metadata,
    Column("id", Integer, primary_key=True),
    Column("client_id", Text, nullable=False, unique=True),  # the phone's key: a retried save is one visit
    Column("household_id", Integer, ForeignKey("households.id", ondelete="CASCADE"), nullable=False),
    Column("worker_id", Integer, nullable=False),
    Column("visited_on", Text, nullable=False),
    Column("method", Text, nullable=False),
    Column("met", Integer, nullable=False),
    Column("checklist_json", Text, nullable=False, server_default="{}"),
    Column("needs_json", Text, nullable=False, server_default="[]"),
    Column("risk", Text, nullable=False, server_default="正常"),
    Column("risk_signs_json", Text, nullable=False, server_default="[]"),
    Column("referral", Text, nullable=False, server_default=""),
    Column("notes", Text, nullable=False, server_default=""),
    Column("acknowledged_by", Integer),
    Column("acknowledged_at", Text, nullable=False, server_default=""),
    Column("demo", Integer, nullable=False, server_default="0"),
    Column("created_at", Text, nullable=False),
    Index("visits_household", "household_id", "visited_on"),
    Index("visits_worker", "worker_id", "visited_on"),
    Index("visits_day", "visited_on"),  # the dashboard's months
    # Partial indexes: the few visits with needs, and the urgent ones not yet acknowledged
    Index("visits_with_needs", "visited_on", sqlite_where=text("needs_json != '[]'"),
          postgresql_where=text("needs_json != '[]'")),
    Index("visits_urgent_open", "household_id", sqlite_where=text("risk = '紧急' AND acknowledged_at = ''"),
          postgresql_where=text("risk = '紧急' AND acknowledged_at = ''")),
)

followups = Table(
    "followups", metadata,
    Column("id", Integer, primary_key=True),
    Column("visit_id", Integer, ForeignKey("visits.id", ondelete="CASCADE"), nullable=False),
    Column("household_id", Integer, ForeignKey("households.id", ondelete="CASCADE"), nullable=False),
    Column("item", Text, nullable=False),
    Column("owner", Text, nullable=False, server_default=""),
    Column("due_on", Text, nullable=False, server_default=""),
    Column("status", Text, nullable=False, server_default="open"),
    Column("close_note", Text, nullable=False, server_default=""),
    Column("closed_by", Integer),
    Column("closed_at", Text, nullable=False, server_default=""),
    Column("created_at", Text, nullable=False),
    Index("followups_household", "household_id", "status"),
    Index("followups_open", "status", "due_on"),
)

access_log = Table(
    "access_log", metadata,
    Column("id", Integer, primary_key=True),
    Column("at", Text, nullable=False),
    Column("user_id", Integer, nullable=False),
    Column("role", Text, nullable=False),
    Column("action", Text, nullable=False),  # read, change, reveal, import, export, llm_send
    Column("kind", Text, nullable=False),  # household, visit, followup, roster, plan
    Column("target", Text, nullable=False, server_default=""),  # ids, never names
    Column("detail", Text, nullable=False, server_default=""),
    Index("access_log_at", "at"),
)
"""Who touched residents' data: append-only (the database refuses UPDATE and DELETE, 0002)."""

visit_flags = Table(
    "visit_flags", metadata,
    Column("key", Text, primary_key=True),
    Column("value_json", Text, nullable=False),
    Column("updated_by", Integer, nullable=False),
    Column("updated_at", Text, nullable=False),
)
"""Switches a supervisor sets, such as extreme weather (every household with chosen tags due now)."""

RECORDS = History(
    name="shegong-records",
    folder=Path(__file__).resolve().parent / "migrations",
    version_table="alembic_version",
    legacy_table="users",
    baseline="0001",
)
