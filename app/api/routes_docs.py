"""Trainers' curation of the knowledge base (role: trainer or admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from starlette.concurrency import run_in_threadpool

from app.api.deps import CuratorUser, StateDep, limit_upload
from app.api.replies import DocChangeOut, DocumentOut, DocumentsOut
from app.api.schemas import MetaIn
from app.core.errors import ValidationError
from app.service.state import AppState

router = APIRouter(prefix="/api/documents")


async def _read(upload: UploadFile, state: AppState) -> bytes:
    limit = int(min(state.settings.max_upload_mb, state.settings.max_file_mb) * 1024 * 1024)
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise ValidationError(f"文件 {upload.filename} 过大：超过上限 {limit / 1048576:g} MB。")
    return data


@router.get("", response_model=DocumentsOut)
def documents(user: CuratorUser, state: StateDep) -> dict[str, Any]:
    """Every document, with its metadata, chunk count and whether a trainer edited or deleted it."""
    return {"documents": state.curator.documents()}


@router.post("", response_model=DocChangeOut)
async def upload(
    user: CuratorUser,
    state: StateDep,
    file: Annotated[UploadFile, File(description="PDF、DOCX、TXT、MD 或 HTML")],
    doc_type: Annotated[str | None, Form()] = None,
    region: Annotated[str | None, Form()] = None,
    issuer: Annotated[str | None, Form()] = None,
    title: Annotated[str | None, Form()] = None,
    published: Annotated[str | None, Form()] = None,
    effective_from: Annotated[str | None, Form()] = None,
    effective_to: Annotated[str | None, Form()] = None,
) -> dict[str, Any]:
    """Upload a document with its metadata; it goes through the same ingest pipeline and limits."""
    limit_upload(state, user)
    data = await _read(file, state)
    meta = MetaIn(doc_type=doc_type, region=region, issuer=issuer, title=title, published=published,
                  effective_from=effective_from, effective_to=effective_to).fields()
    return await run_in_threadpool(state.curator.upload, file.filename or "", data, meta, by=user.username)


@router.post("/versions/{version_id}/restore", response_model=DocChangeOut)
def restore(version_id: int, user: CuratorUser, state: StateDep) -> dict[str, Any]:
    """Bring back a kept earlier version of a replaced or deleted document."""
    return state.curator.restore(version_id, by=user.username)


@router.put("/{doc_id:path}/file", response_model=DocChangeOut)
async def replace(doc_id: str, user: CuratorUser, state: StateDep, file: Annotated[UploadFile, File()]) -> dict[str, Any]:
    """Replace a document's file; the old one is kept as a version."""
    limit_upload(state, user)
    data = await _read(file, state)
    return await run_in_threadpool(state.curator.replace, doc_id, file.filename or "", data, by=user.username)


@router.get("/{doc_id:path}", response_model=DocumentOut)
def document(doc_id: str, user: CuratorUser, state: StateDep) -> dict[str, Any]:
    """One document: metadata, what cleaning changed, its chunks as split, kept versions."""
    return state.curator.document(doc_id)


@router.patch("/{doc_id:path}", response_model=DocChangeOut)
def edit(doc_id: str, body: MetaIn, user: CuratorUser, state: StateDep) -> dict[str, Any]:
    """Change a document's metadata; the change survives later re-ingests."""
    return state.curator.edit(doc_id, body.fields(), by=user.username)


@router.delete("/{doc_id:path}", response_model=DocChangeOut)
def delete(doc_id: str, user: CuratorUser, state: StateDep) -> dict[str, Any]:
    """Take a document out of the knowledge base (it can be restored)."""
    return state.curator.delete(doc_id, by=user.username)
