"""The fixed sample of each external set that the quality gate asks through the full chat path.

Only ids are committed (``eval/gate/external_sample.json``): the questions and documents are read
from ``../shared/external`` when the gate runs, never copied into the project. Per set: the first
``QUESTIONS`` eval questions in the order of a hash of their id, their gold documents, and
``DISTRACTORS`` other documents of the same set (same order), so that retrieval has to choose.

Usage: ``python -m eval.gate_sample`` (rewrites the file; the sample changes only if the shared
files do).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from eval.external import SETS, docs_path, eval_questions, read_jsonl

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "eval" / "gate" / "external_sample.json"
QUESTIONS = 40
DISTRACTORS = 160


def _order(key: str) -> str:
    return hashlib.sha1(f"gate:{key}".encode()).hexdigest()


def build() -> dict[str, dict[str, list[str]]]:
    out = {}
    for name in SETS:
        qs = sorted(eval_questions(name), key=lambda q: _order(q.id))[:QUESTIONS]
        gold = sorted({g for q in qs for g in q.gold_doc_ids})
        others = sorted((str(r["doc_id"]) for r in read_jsonl(docs_path(name)) if str(r["doc_id"]) not in gold),
                        key=_order)[:DISTRACTORS]
        out[name] = {"questions": [q.id for q in qs], "docs": sorted([*gold, *others])}
    return out


def write_docs(name: str, doc_ids: list[str], target: Path) -> Path:
    """The sample's documents of ``name`` as one JSONL file for ingest."""
    want = set(doc_ids)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8") as fh:
        for row in read_jsonl(docs_path(name)):
            if str(row["doc_id"]) in want:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return target


def main() -> None:
    SAMPLE.parent.mkdir(parents=True, exist_ok=True)
    SAMPLE.write_text(json.dumps(build(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {SAMPLE}")


if __name__ == "__main__":
    main()
