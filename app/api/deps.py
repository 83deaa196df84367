"""Typed dependencies for routes: the shared state, the signed-in user, and role checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from app.core.errors import AuthError
from app.rag.assistant import Assistant
from app.service.accounts import LOCAL_USER, RATE_EXEMPT, User
from app.service.state import AppState

SESSION_COOKIE = "shegong_session"


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.shegong
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_assistant(request: Request) -> Assistant:
    assistant: Assistant = request.app.state.shegong.assistant
    return assistant


AssistantDep = Annotated[Assistant, Depends(get_assistant)]


def request_token(request: Request) -> str | None:
    """A bearer token from the Authorization header, or the UI's session cookie."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return request.cookies.get(SESSION_COOKIE) or None


def user_for(state: AppState, token: str | None) -> User:
    """The user a token stands for (everyone is the local admin when auth is off)."""
    if state.settings.auth == "off":
        return LOCAL_USER
    if not token:
        raise AuthError("请先登录（缺少令牌）。")
    return state.accounts.user_for_token(token)


def get_user(request: Request, state: StateDep) -> User:
    return user_for(state, request_token(request))


CurrentUser = Annotated[User, Depends(get_user)]


def require(permission: str) -> Callable[[User], User]:
    """A dependency that lets the request through only when the user's role has ``permission``."""

    def check(user: CurrentUser) -> User:
        user.require(permission)
        return user

    return check


ChatUser = Annotated[User, Depends(require("chat"))]
CuratorUser = Annotated[User, Depends(require("curate"))]
ReviewerUser = Annotated[User, Depends(require("review"))]
AuditorUser = Annotated[User, Depends(require("audit"))]
EvaluatorUser = Annotated[User, Depends(require("evaluate"))]
AdminUser = Annotated[User, Depends(require("users"))]


def limit_upload(state: AppState, user: User) -> None:
    if user.role not in RATE_EXEMPT:
        state.upload_limit.hit(user.username)
