"""Sign in and out, who am I, my conversations, feedback on answers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from app.api.deps import ChatUser, CurrentUser, StateDep, login_with_backoff, request_token
from app.api.replies import ConversationMessagesOut, ConversationsOut, LoginOut, MeOut, Ok
from app.api.schemas import FeedbackIn, LoginIn
from app.core.errors import RateLimitError
from app.service.audit_actions import Action

router = APIRouter(prefix="/api")


@router.post("/auth/login", response_model=LoginOut)
def login(body: LoginIn, request: Request, state: StateDep) -> dict[str, Any]:
    """Exchange a username and password for a bearer token."""
    try:
        token, user = login_with_backoff(request, state, body.username, body.password, label="api")
    except RateLimitError:
        state.audit.record(body.username[:64], Action.LOGIN_LOCKED, body.username[:64])
        raise
    return {"token": token, "token_type": "bearer", "expires_in": int(state.accounts.token_ttl_s),
            "user": user.to_dict()}


@router.post("/auth/logout", response_model=Ok)
def logout(request: Request, state: StateDep) -> dict[str, bool]:
    """Revoke the token this request carries."""
    token = request_token(request)
    if token:
        state.accounts.revoke(token)
    return {"ok": True}


@router.get("/me", response_model=MeOut)
def me(user: CurrentUser, state: StateDep) -> dict[str, Any]:
    """The signed-in user, their role and what it allows."""
    from app.service.accounts import PERMISSIONS

    return {**user.to_dict(), "auth": state.settings.auth,
            "permissions": sorted(p for p in PERMISSIONS if user.can(p))}


@router.get("/conversations", response_model=ConversationsOut)
def conversations(user: ChatUser, state: StateDep) -> dict[str, Any]:
    """The user's recent conversations, newest first."""
    return {"conversations": state.conversations.recent(user)}


@router.get("/conversations/{conversation_id}", response_model=ConversationMessagesOut)
def conversation(conversation_id: str, user: ChatUser, state: StateDep) -> dict[str, Any]:
    """One of the user's conversations with every exchange and its feedback."""
    return {"id": conversation_id,
            "messages": [m.to_dict() for m in state.conversations.messages(user, conversation_id)]}


@router.post("/feedback", response_model=Ok)
def feedback(body: FeedbackIn, user: ChatUser, state: StateDep) -> dict[str, bool]:
    """👍 (1) or 👎 (-1) with an optional comment on one of the user's answers; 👎 goes to review."""
    user.require("feedback")
    state.conversations.feedback(user, body.message_id, body.rating, body.comment)
    return {"ok": True}
