"""What the service shares between requests, built once in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from app.rag.assistant import Assistant
from app.rag.embedder import Embedder
from app.rag.store import ChromaStore
from app.service.accounts import Accounts
from app.service.curation import Curator
from app.service.db import ServiceDB
from app.service.ratelimit import RateLimiter
from app.service.records import AuditLog, ConversationLog, ReviewQueue
from app.settings import Settings
from ingest.manifest import Manifest


@dataclass
class AppState:
    settings: Settings
    embedder: Embedder
    store: ChromaStore
    manifest: Manifest
    assistant: Assistant
    db: ServiceDB
    accounts: Accounts
    conversations: ConversationLog
    review: ReviewQueue
    audit: AuditLog
    curator: Curator
    chat_limit: RateLimiter
    upload_limit: RateLimiter
