"""The shapes of the JSON replies, as response models, so that ``/api/docs`` shows them.

Each model names the fields a client can rely on; ``extra="allow"`` keeps whatever else a reply
carries (a document's metadata fields, an evaluation's figures), so that documenting a shape never
drops a field.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Reply(BaseModel):
    model_config = ConfigDict(extra="allow")


class Ok(Reply):
    ok: bool = True


class HitOut(Reply):
    chunk_id: str
    doc_id: str
    title: str
    source: str
    issuer: str
    region: str
    published: str | None = None
    effective_from: str | None = None
    effective_to: str | None = None
    replaced_by: str | None = None
    doc_type: str = Field(description="政策 | 手册 | 案例 | 其他")
    heading: str
    text: str
    score: float
    dense: float | None = None
    lexical: float | None = None
    fictional: bool = Field(default=False, description="the document is an invented example")


class CitationOut(HitOut):
    n: int = Field(description="the [n] marker in the answer")


class AnswerOut(Reply):
    answer: str
    refused: bool
    mode: str = Field(description="extractive | llm | extractive_fallback | intro")
    citations: list[CitationOut] = Field(default_factory=list)
    nearest: list[dict[str, Any]] = Field(default_factory=list, description="the nearest documents of a refusal")
    timings_ms: dict[str, float] = Field(default_factory=dict)
    reason: str = Field(default="", description="why it refused, or why the LLM was not used")
    score: float | None = Field(default=None, description="the answer selector's best probability")
    hits: list[HitOut] = Field(default_factory=list, description="what retrieval returned")
    conversation_id: str | None = Field(default=None, description="where the exchange was saved")
    message_id: int | None = Field(default=None, description="for feedback on this answer")


class SearchOut(Reply):
    hits: list[HitOut]


class UserOut(Reply):
    username: str
    role: str
    role_name: str
    region: str
    disabled: bool


class MeOut(UserOut):
    auth: str
    permissions: list[str]


class LoginOut(Reply):
    token: str
    token_type: str = "bearer"
    expires_in: int
    user: UserOut


class UsersOut(Reply):
    users: list[UserOut]


class ConversationOut(Reply):
    id: str
    title: str
    created_at: str
    updated_at: str
    n: int = Field(description="exchanges in the conversation")


class ConversationsOut(Reply):
    conversations: list[ConversationOut]


class MessageOut(Reply):
    id: int
    conversation_id: str
    question: str
    answer: str
    refused: bool
    mode: str
    citations: list[dict[str, Any]]
    created_at: str
    rating: int | None = None
    comment: str | None = ""


class ConversationMessagesOut(Reply):
    id: str
    messages: list[MessageOut]


class DocumentRow(Reply):
    doc_id: str
    title: str = ""
    chunks: int = 0
    deleted: bool = False
    updated_at: str | None = None


class DocumentsOut(Reply):
    documents: list[DocumentRow]


class DocumentOut(Reply):
    doc_id: str
    meta: dict[str, Any]
    version: int | str
    source: str
    chunks: list[dict[str, Any]]
    versions: list[dict[str, Any]]
    edits: dict[str, Any] = Field(default_factory=dict)


class DocChangeOut(Reply):
    doc_id: str | None
    status: str = Field(description="added | updated | unchanged | removed | failed | ...")


class ReviewItemOut(Reply):
    message_id: int
    status: str
    question: str
    answer: str
    refused: bool
    reason: str
    citations: list[dict[str, Any]]


class ReviewOut(Reply):
    items: list[ReviewItemOut]


class CaseOut(Reply):
    id: str


class AuditEntryOut(Reply):
    id: int
    at: str
    actor: str
    action: str
    target: str
    detail: str


class AuditOut(Reply):
    entries: list[AuditEntryOut]


class EvalRunOut(Reply):
    name: str
    has_report: bool


class EvalRunsOut(Reply):
    runs: list[EvalRunOut]


class EmbedderOut(Reply):
    backend: str
    model: str
    dim: int


class HealthOut(Reply):
    status: str
    documents: int
    chunks: int
    vectors: int
    embedder: EmbedderOut
    llm: dict[str, Any]
    auth: str
    vector_store: str = "embedded"  # or "server" (SHEGONG_CHROMA_URL)
    limits: str = "memory"  # or "redis" (SHEGONG_REDIS_URL): where rate limits are counted
    down: dict[str, str] = {}  # what this node cannot reach, in Chinese; empty when all is well
