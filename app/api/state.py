"""What the service shares between requests, built once in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from app.rag.assistant import Assistant
from app.rag.embedder import Embedder
from app.rag.store import ChromaStore
from app.settings import Settings
from ingest.manifest import Manifest


@dataclass
class AppState:
    settings: Settings
    embedder: Embedder
    store: ChromaStore
    manifest: Manifest
    assistant: Assistant
