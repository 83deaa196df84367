"""The service's records as SQLAlchemy tables: accounts and tokens, conversations and their
messages, feedback, the review queue, curated test cases, the audit log and kept document versions.

The same tables run on SQLite (the default, ``DATA_DIR/service.sqlite3``) and on PostgreSQL; their
history is ``app/service/migrations`` (``shegong db upgrade``). Revision 0001 is the schema that the
code before SQLAlchemy wrote, so a data dir of that code is stamped at 0001 and upgraded from there.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, MetaData, Table, Text

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

RECORDS = History(
    name="shegong-records",
    folder=Path(__file__).resolve().parent / "migrations",
    version_table="alembic_version",
    legacy_table="users",
    baseline="0001",
)
