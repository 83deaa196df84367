"""Accounts (admin only) and the evaluation runs (evaluator or admin)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from app.api.deps import AdminUser, EvaluatorUser, StateDep
from app.api.replies import EvalRunsOut, UserOut, UsersOut
from app.api.schemas import UserIn, UserPatch
from app.core.errors import NotFoundError
from app.service.audit_actions import Action

router = APIRouter(prefix="/api")


@router.get("/users", response_model=UsersOut)
def users(user: AdminUser, state: StateDep) -> dict[str, Any]:
    """Every account and its role."""
    return {"users": [u.to_dict() for u in state.accounts.all()]}


@router.post("/users", response_model=UserOut)
def add_user(body: UserIn, user: AdminUser, state: StateDep) -> dict[str, Any]:
    """Create an account."""
    new = state.accounts.add(body.username, body.password, role=body.role, region=body.region)
    state.audit.record(user.username, Action.USER_ADD, new.username, {"role": new.role})
    return new.to_dict()


@router.patch("/users/{username}", response_model=UserOut)
def change_user(username: str, body: UserPatch, user: AdminUser, state: StateDep) -> dict[str, Any]:
    """Change an account's role, disable or enable it, or set a new password."""
    changed = state.accounts.get(username)
    if body.role is not None:
        changed = state.accounts.set_role(username, body.role)
    if body.disabled is not None:
        changed = state.accounts.set_disabled(username, body.disabled)
    if body.password:
        state.accounts.reset_password(username, body.password)
    what = {k: v for k, v in body.model_dump().items() if v is not None and k != "password"}
    state.audit.record(user.username, Action.USER_CHANGE, username, {**what, "password_reset": bool(body.password)})
    return changed.to_dict()


def runs(state: Any) -> list[dict[str, Any]]:
    """Evaluation runs in ``DATA_DIR/eval/runs`` with their headline figures, newest first."""
    root = state.settings.eval_runs_dir
    out = []
    for d in sorted(root.iterdir(), reverse=True) if root.is_dir() else []:
        metrics = d / "metrics.json"
        if not metrics.is_file():
            continue
        try:
            m = json.loads(metrics.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        overall = m.get("overall") or m.get("metrics") or {}
        out.append({"name": d.name, "has_report": (d / "report.html").is_file(),
                    **{k: overall.get(k) for k in ("cases", "recall@5", "recall@10", "answer_accuracy",
                                                   "refusal_accuracy", "citation_correct", "latency_ms_p95")}})
    return out


@router.get("/eval/runs", response_model=EvalRunsOut)
def eval_runs(user: EvaluatorUser, state: StateDep) -> dict[str, Any]:
    """The evaluation runs started from the CLI (`shegong eval`), newest first."""
    return {"runs": runs(state)}


@router.get("/eval/runs/{name}/report", response_class=FileResponse,
            responses={200: {"content": {"text/html": {}}, "description": "the run's HTML report"}})
def eval_report(name: str, user: EvaluatorUser, state: StateDep) -> FileResponse:
    """One run's HTML report."""
    root = state.settings.eval_runs_dir.resolve()
    path = (root / name / "report.html").resolve()
    if path.parent.parent != root or not path.is_file():
        raise NotFoundError(f"没有评测报告“{name}”。")
    return FileResponse(path, media_type="text/html")
