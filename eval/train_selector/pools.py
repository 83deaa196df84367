"""The training questions (external pools and our own sets) and the knowledge bases they are asked over."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.core.settings import Settings
from eval.external import eval_questions, external_dir, tuning_questions
from eval.harness import load_cases, squash
from eval.train_selector.config import LAWS, OWN, ROOT, SEED

log = logging.getLogger(__name__)


def shared_dir() -> Path:
    return external_dir().parent


def is_dev(group: str) -> bool:
    """One document in five goes to development, by a hash of its id (stable across runs)."""
    return int(hashlib.sha1(group.encode()).hexdigest(), 16) % 5 == 0


@dataclass
class Question:
    qid: str
    source: str  # set name, or "starter"
    group: str  # the document it is on: what the train/dev split goes by
    question: str
    history: list[dict[str, str]]
    positives: list[str]  # squashed strings whose presence in a sentence makes it an answer
    withheld: list[str]  # gold documents to withhold for the unanswerable variant (empty: none)
    answerable: bool


def eval_docs() -> set[str]:
    """Every document a question of the four eval files is on: never trained on, not even as a
    distractor (those questions only report)."""
    return {g for name in ("ncp_policy", "cail2019_rc", "drcd", "cmrc2018") for q in eval_questions(name)
            for g in q.gold_doc_ids}


def external_pool(name: str, limit: int) -> list[Question]:
    from app.core.text import normalize_query

    held = eval_docs()
    out = []
    pool = [qa for qa in tuning_questions(name, seed=SEED)
            if qa.question.strip() and not set(qa.gold_doc_ids) & held]
    for qa in pool[:limit]:
        # answers compared as the cleaned documents read (drcd's Traditional script -> Simplified)
        positives = [squash(normalize_query(a)) for a in qa.answers if squash(a)]
        out.append(Question(qa.id, name, qa.gold_doc_ids[0], qa.question, [], positives, list(qa.gold_doc_ids), True))
    return out


def starter_pool(data_dir: Path, paths: Sequence[Path] = (), tag: str = "dev", source: str = "starter") -> list[Question]:
    """The development half of the starter set (or, with ``paths``, another own set: our training
    questions over knowledge/ or over the training laws). An answerable case is also asked with every document holding its
    evidence withheld: the near-topic passages left are in-domain negatives."""
    from app.service.factory import open_manifest

    manifest = open_manifest(Settings(data_dir=data_dir))
    chunks = [(c.doc_id, squash(c.text)) for c in manifest.chunks()]
    manifest.close()
    laws = {p.stem for p in (LAWS / "docs").glob("*.md")}  # a law's questions are tagged with its file's name
    out = []
    cases = [c for path in (paths or [ROOT / "eval" / "sets" / "starter.jsonl"]) for c in load_cases(path)]
    for c in cases:
        if tag not in c.tags:
            continue
        evidence = [squash(e) for e in c.evidence if squash(e)]
        pos = evidence + [squash(k) for k in c.answer_keywords if squash(k)]
        gold = sorted({d for d, text in chunks if any(e in text for e in evidence)}) if c.answerable else []
        # training laws split by document (a dev law is one the model never saw, as a trainer's upload
        # is); the other own sets by question
        group = next((t for t in c.tags if t in laws), c.id) if source == "laws" else c.id
        out.append(Question(c.id, source, group, c.question, list(c.history), pos, gold, c.answerable))
    return out


def own_pool(name: str, data_dir: Path) -> list[Question]:
    if name == "starter":
        return starter_pool(data_dir)
    if name == "laws":
        return starter_pool(data_dir, sorted(LAWS.glob("questions*.jsonl")), tag="train-laws", source="laws")
    return starter_pool(data_dir, [OWN], tag="train-own", source="own")


def ensure_kb(kb: Path, sources: Sequence[Path], *, refresh: bool = False, sentence_vectors: bool = True) -> Path:
    """A data dir holding ``sources``, ingested on first use (the pool's knowledge bases are built
    here, so that a fresh machine can retrain with nothing prepared by hand); ``refresh``: ingest
    again each time (quick when nothing changed; picks up documents added since)."""
    done = kb / "ingested.ok"  # written once an ingest has finished (a killed one is run again)
    if refresh or not done.is_file():
        from app.service.factory import build_ingestor

        log.info("ingesting %s into %s", ", ".join(str(s) for s in sources), kb)
        ing = build_ingestor(Settings(data_dir=kb))
        ing.sentence_vectors = sentence_vectors
        report = ing.ingest(list(sources))
        ing.manifest.close()
        if report.failed:
            raise SystemExit(f"{kb}: failed to ingest {report.failed}")
        done.write_text(f"{report.added} added, {report.unchanged} unchanged\n", encoding="utf-8")
    return kb


def own_kb(name: str, starter_kb: Path) -> Path:
    """The data dir an own set is asked over: knowledge/ and the seeds, or the training laws."""
    if name == "laws":
        return ensure_kb(ROOT / "data" / "train-laws", [LAWS / "docs"], refresh=True)
    return ensure_kb(starter_kb, [ROOT / "knowledge", shared_dir() / "seeds"], refresh=True)


def external_kb(name: str) -> Path:
    """The documents of ``name``'s docs file that no eval question is on (the eval documents never
    enter a training knowledge base, not even as distractors)."""
    import tempfile

    from eval.external import docs_path, read_jsonl

    kb = ROOT / "data" / "train-ext" / name
    if (kb / "ingested.ok").is_file():
        return kb
    held = eval_docs()
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / f"{name}.docs.jsonl"
        with docs.open("w", encoding="utf-8") as fh:
            for row in read_jsonl(docs_path(name)):
                if str(row["doc_id"]) not in held:
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        # only the retrieved passages' sentences are ever scored: embedded as collected, not here
        return ensure_kb(kb, [docs], sentence_vectors=False)
