"""What the service shares between requests, built once in the lifespan (:func:`build_state`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app.core.embedder import Embedder
from app.core.manifest import Manifest
from app.core.settings import Settings
from app.core.store import ChromaStore
from app.rag.assistant import Assistant
from app.service.accounts import Accounts
from app.service.askdata import AskData
from app.service.chat import ChatService
from app.service.curation import Curator
from app.service.dashboard import Dashboard
from app.service.db import ServiceDB
from app.service.drafts import Drafts
from app.service.factory import build_assistant, build_ingestor, load_region_tree
from app.service.ratelimit import Limiter, limiter, redis_client
from app.service.records import AuditLog, ConversationLog, ReviewQueue
from app.service.visits import Visits

log = logging.getLogger(__name__)


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
    chat: ChatService
    chat_limit: Limiter
    upload_limit: Limiter
    login_limit: Limiter  # failed logins per client address
    visits: Visits
    dashboard: Dashboard
    drafts: Drafts
    ask: AskData


def build_state(settings: Settings) -> AppState:
    """Everything the routes share: one Assistant, the service database and the curator."""
    assistant = build_assistant(settings)
    retriever = assistant.retriever
    db = ServiceDB(settings.service_db_url)
    audit = AuditLog(db)
    conversations = ConversationLog(db, retention_days=settings.retention_days)
    if conversations.purged_at_start:
        log.info("retention: deleted %d conversations older than %d days", conversations.purged_at_start,
                 settings.retention_days)
    shared = redis_client(settings.redis_url) if settings.redis_url else None
    chat_limit = limiter(shared, name="chat", limit=settings.rate_chat_per_min, window_s=60, what="提问")
    visits = Visits.build(settings, db, assistant, retriever.manifest, load_region_tree(settings.regions_file))
    if settings.visit_demo:
        from app.service.visits.demo import load_demo

        load_demo(visits, db)
    dashboard = Dashboard(db, visits)
    return AppState(
        settings=settings,
        embedder=retriever.embedder,
        store=retriever.store,
        manifest=retriever.manifest,
        assistant=assistant,
        db=db,
        accounts=Accounts(db, token_ttl_s=settings.token_ttl_hours * 3600),
        conversations=conversations,
        review=ReviewQueue(db, audit),
        audit=audit,
        curator=Curator(settings, build_ingestor(settings, embedder=retriever.embedder), db, audit),
        chat=ChatService(assistant, conversations, chat_limit),
        chat_limit=chat_limit,
        upload_limit=limiter(shared, name="upload", limit=settings.rate_upload_per_hour, window_s=3600, what="上传"),
        login_limit=limiter(shared, name="login-address", limit=settings.login_failures_per_address, window_s=900,
                            what="从同一地址登录失败"),
        visits=visits,
        dashboard=dashboard,
        drafts=Drafts.build(db, visits, dashboard, settings.notice_templates_file, llm=getattr(assistant, "llm", None)),
        ask=AskData(db, visits, llm=visits.llm, llm_allowed=visits.llm_allowed),
    )
