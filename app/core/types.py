"""The few shared types: document metadata, chunks, search hits."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

DOC_TYPES = ("政策", "手册", "案例", "其他")
UNSPECIFIED = "未注明"


@dataclass
class DocMeta:
    """What we know about a document; dates are ISO ``YYYY-MM-DD`` strings or ``None``."""

    title: str = ""
    source: str = ""
    doc_type: str = "其他"
    region: str = UNSPECIFIED
    issuer: str = UNSPECIFIED
    published: str | None = None
    effective_from: str | None = None
    effective_to: str | None = None
    replaced_by: str | None = None
    fictional: bool = False  # an invented example (demo data, a case with invented people): never a rule

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Chunk:
    """A passage of a document, as stored and cited.

    ``text`` is what a person reads; ``embed_text`` adds the title and heading path so that a
    passage is found by what it is about, not only by the words it happens to contain.
    """

    chunk_id: str
    doc_id: str
    position: int
    text: str
    heading: str
    title: str
    meta: DocMeta = field(default_factory=DocMeta)
    start: int = 0  # character offset in the cleaned document

    @property
    def embed_text(self) -> str:
        head = " > ".join(p for p in (self.title, self.heading) if p)
        return f"{head}\n{self.text}" if head else self.text

    def metadata(self) -> dict[str, str | int]:
        """Flat metadata for Chroma (no ``None`` values allowed there).

        Dates are also stored as ``YYYYMMDD`` integers (``eff_from_n``, ``eff_to_n``), because Chroma
        compares only numbers: "in force on D" is ``eff_from_n <= D < eff_to_n``.
        """
        flat: dict[str, str | int] = {"doc_id": self.doc_id, "position": self.position, "heading": self.heading}
        for key, value in self.meta.to_dict().items():
            flat[key] = value if value is not None else ""
        flat["eff_from_n"] = date_number(self.meta.effective_from, OPEN_START)
        flat["eff_to_n"] = date_number(self.meta.effective_to, OPEN_END)
        return flat


OPEN_START = 0
OPEN_END = 99991231


def date_number(iso: str | None, default: int) -> int:
    """``"2024-04-28"`` -> ``20240428``; ``None`` -> ``default``."""
    return int(iso.replace("-", "")) if iso else default


@dataclass
class Hit:
    """A retrieved passage with everything a citation shows."""

    chunk_id: str
    doc_id: str
    title: str
    source: str
    issuer: str
    region: str
    published: str | None
    effective_from: str | None
    effective_to: str | None
    replaced_by: str | None
    doc_type: str
    heading: str
    text: str
    score: float
    dense: float | None = None  # cosine to the question, when the dense list held it
    lexical: float | None = None  # BM25 score, when the lexical list held it
    fictional: bool = False  # the document is an invented example (its metadata says so)
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_chunk(cls, c: Chunk, score: float, dense: float | None, lexical: float | None) -> Hit:
        m = c.meta
        return cls(
            chunk_id=c.chunk_id, doc_id=c.doc_id, title=c.title, source=m.source, issuer=m.issuer,
            region=m.region, published=m.published, effective_from=m.effective_from,
            effective_to=m.effective_to, replaced_by=m.replaced_by, doc_type=m.doc_type,
            heading=c.heading, text=c.text, score=score, dense=dense, lexical=lexical, fictional=m.fictional,
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("extras")
        return d


def source_nature(hit: Hit) -> str | None:
    """What kind of source a passage is, when it is not a rule: shown beside every line citing it
    (and told to an LLM with the passage)."""
    if hit.doc_type == "案例":
        return "教学案例（人物虚构）"
    if hit.fictional:
        return "虚构示例"
    if hit.doc_type == "手册":
        return "培训参考"
    return None


@dataclass
class Citation:
    n: int
    hit: Hit

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, **self.hit.to_dict()}


@dataclass
class Answer:
    answer: str
    refused: bool
    mode: str  # extractive | llm | extractive_fallback | intro
    citations: list[Citation] = field(default_factory=list)
    nearest: list[dict[str, Any]] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    reason: str = ""  # why it refused, or why the LLM was not used
    search_query: str = ""
    hits: list[Hit] = field(default_factory=list)  # what retrieval returned: the evaluator scores these
    score: float | None = None  # the selector's best probability (None when no score was made)

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "refused": self.refused,
            "mode": self.mode,
            "citations": [c.to_dict() for c in self.citations],
            "nearest": self.nearest,
            "timings_ms": self.timings_ms,
            "reason": self.reason,
            "score": None if self.score is None else round(self.score, 4),
            "hits": [h.to_dict() for h in self.hits],
        }
