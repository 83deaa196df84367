"""Typed dependencies for routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.api.state import AppState


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.shegong
    return state


StateDep = Annotated[AppState, Depends(get_state)]
