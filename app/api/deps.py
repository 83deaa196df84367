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


def client_address(request: Request, state: AppState) -> str:
    """The client's address: the trusted proxy's header when one is configured
    (``SHEGONG_TRUSTED_PROXY_HEADER``; of X-Forwarded-For, the last entry, the one the proxy added),
    else the socket's peer. A header that no trusted proxy is said to set is never read."""
    header = state.settings.trusted_proxy_header
    if header:
        value = request.headers.get(header, "")
        if value.strip():
            return value.split(",")[-1].strip()
    return request.client.host if request.client else ""


def login_with_backoff(request: Request, state: AppState, username: str, password: str, *,
                       label: str) -> tuple[str, User]:
    """``Accounts.login`` with a second back-off per client address (failures in 15 minutes, counted
    across nodes on Redis) beside each account's own lock: one address trying many accounts is
    stopped too. Raises ``RateLimitError`` while the address is over its limit, right password or not."""
    address = client_address(request, state)
    state.login_limit.hit(address, record=False)
    try:
        return state.accounts.login(username, password, label=label)
    except AuthError:
        state.login_limit.hit(address)
        raise
