"""The manifest as the code before SQLAlchemy wrote it (meta, documents, chunks, embeddings, curation).

A manifest of that code already holds these tables: it is stamped at this revision, not re-created.

Revision ID: m0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "m0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("meta", sa.Column("key", sa.Text, primary_key=True), sa.Column("value", sa.Text, nullable=False))
    op.create_table(
        "documents",
        sa.Column("doc_id", sa.Text, primary_key=True),
        sa.Column("source_path", sa.Text, nullable=False),
        sa.Column("source_root", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("meta_json", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("n_chunks", sa.Integer, nullable=False),
        sa.Column("cleaned_json", sa.Text, nullable=False),
        sa.Column("pii_masked", sa.Integer, nullable=False),
        sa.Column("ingested_at", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
    )
    op.create_table(
        "chunks",
        sa.Column("chunk_id", sa.Text, primary_key=True),
        sa.Column("doc_id", sa.Text, sa.ForeignKey("documents.doc_id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("heading", sa.Text, nullable=False),
        sa.Column("start", sa.Integer, nullable=False),
    )
    op.create_index("chunks_doc", "chunks", ["doc_id", "position"])
    op.create_table("embeddings", sa.Column("key", sa.Text, primary_key=True),
                    sa.Column("vector", sa.LargeBinary, nullable=False))
    op.create_table(
        "curation",
        sa.Column("doc_id", sa.Text, primary_key=True),
        sa.Column("meta_json", sa.Text, nullable=False, server_default="{}"),
        sa.Column("pinned_source", sa.Text),
        sa.Column("deleted", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.Text, nullable=False),
        sa.Column("updated_by", sa.Text, nullable=False, server_default=""),
    )


def downgrade() -> None:
    for name in ("curation", "embeddings", "chunks", "documents", "meta"):
        op.drop_table(name)
