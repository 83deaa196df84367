"""Typed dependencies for routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.api.state import AppState
from app.rag.assistant import Assistant


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.shegong
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_assistant(request: Request) -> Assistant:
    assistant: Assistant = request.app.state.shegong.assistant
    return assistant


AssistantDep = Annotated[Assistant, Depends(get_assistant)]
