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
