"""``shegong doctor``: check an install and say what to fix."""

from __future__ import annotations

import logging
from typing import Any

from app.core.errors import ShegongError
from app.core.settings import Settings

log = logging.getLogger(__name__)


def _check_data_dir(settings: Settings) -> dict[str, Any]:
    from ingest.pipeline import check_writable

    try:
        check_writable(settings.data_dir)
    except ShegongError as exc:
        return {"ok": False, "path": str(settings.data_dir), "error": str(exc),
                "fix": "设置 SHEGONG_DATA_DIR 为可写目录"}
    return {"ok": True, "path": str(settings.data_dir.resolve())}


def run_checks(settings: Settings) -> dict[str, Any]:
    """``{data_dir, embedder: {backend, model, dim}, store: {...}, llm: {...}, selector: {...}, ok}``."""
    report: dict[str, Any] = {"data_dir": _check_data_dir(settings)}
    embedder = None
    try:
        from app.service.factory import build_embedder

        embedder = build_embedder(settings)
        vec = embedder.embed_query("测试")
        report["embedder"] = {"ok": vec.shape[-1] == embedder.dim, "backend": embedder.backend,
                              "model": embedder.model_id, "dim": embedder.dim}
    except Exception as exc:
        report["embedder"] = {"ok": False, "backend": settings.embed_backend, "model": settings.embed_model or None,
                              "dim": None, "error": str(exc), "fix": "运行 make setup，或检查 SHEGONG_EMBED_MODEL"}
    report["store"] = _check_store(settings, embedder)
    report["llm"] = _check_llm(settings)
    report["selector"] = _check_selector(settings)
    report["ok"] = all(report[k]["ok"] for k in ("data_dir", "embedder", "store", "llm", "selector"))
    return report


def _check_store(settings: Settings, embedder: Any) -> dict[str, Any]:
    if embedder is None or not report_ok_dir(settings):
        return {"ok": False, "error": "嵌入模型或数据目录不可用，无法检查向量库"}
    try:
        from app.service.factory import open_manifest, open_store

        manifest = open_manifest(settings)
        store = open_store(settings, embedder)
        in_store, in_manifest = store.ids(), manifest.chunk_ids()
        out: dict[str, Any] = {
            "path": settings.chroma_url or str(settings.chroma_dir),
            "documents": len(manifest.documents()),
            "chunks": len(in_manifest),
            "vectors": len(in_store),
            "model": store.stored_model_id,
            "matches_manifest": in_store == in_manifest,
            "model_matches": not store.model_mismatch,
        }
        out["ok"] = out["matches_manifest"] and out["model_matches"]
        if not out["model_matches"]:
            out["fix"] = "嵌入模型已更换：运行 shegong ingest 会重新嵌入全部段落"
        elif not out["matches_manifest"]:
            out["fix"] = "向量库与清单不一致（可能是导入中途被中断）：再次运行 shegong ingest 即可修复"
        return out
    except Exception as exc:
        return {"ok": False, "error": str(exc), "fix": "向量库无法打开：可从备份恢复（shegong restore）"}


def report_ok_dir(settings: Settings) -> bool:
    return settings.data_dir.exists()


def _check_selector(settings: Settings) -> dict[str, Any]:
    """The answer selector's model file loads and matches the code's features."""
    from app.rag.pipeline.select import MODEL_PATH, SelectorModel

    path = settings.selector_model or MODEL_PATH
    try:
        model = SelectorModel.load(settings.selector_model)
    except (OSError, ValueError, KeyError) as exc:
        return {"ok": False, "path": str(path), "error": str(exc),
                "fix": "恢复 app/rag/models/selector.json，或运行 python -m eval.train_selector 重新训练"}
    return {"ok": True, "path": str(path), "kind": model.spec.get("kind"), "threshold": round(model.threshold, 3)}


def _check_llm(settings: Settings) -> dict[str, Any]:
    if not settings.llm_enabled:
        return {"ok": True, "configured": False, "mode": "extractive"}
    import httpx

    url = settings.llm_base_url.rstrip("/") + "/models"
    headers = {"Authorization": f"Bearer {settings.llm_api_key}"} if settings.llm_api_key else {}
    try:
        r = httpx.get(url, headers=headers, timeout=5.0)
        ok = r.status_code < 400
        out: dict[str, Any] = {"ok": ok, "configured": True, "base_url": settings.llm_base_url,
                               "model": settings.llm_model, "status": r.status_code}
        if not ok:
            out["fix"] = "检查 SHEGONG_LLM_BASE_URL 与 SHEGONG_LLM_API_KEY"
        return out
    except httpx.HTTPError as exc:
        return {"ok": False, "configured": True, "base_url": settings.llm_base_url, "error": str(exc),
                "fix": "LLM 接口不可达：检查地址，或清空 SHEGONG_LLM_BASE_URL 使用离线抽取式回答"}
