"""Loaders for the shared external QA sets in ``../shared/external`` (read in place, never copied).

Each set has ``NAME.docs.jsonl`` (doc_id, title, text) and ``NAME.eval.jsonl`` (id, question,
answers, gold_doc_ids). :func:`tuning_questions` reads the raw upstream files for questions that
are *not* in the eval file, so that retrieval is tuned on one set of questions and reported on
another.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SETS = ("ncp_policy", "cail2019_rc", "drcd", "cmrc2018")


def external_dir() -> Path:
    return Path(os.environ.get("SHEGONG_SHARED_DIR", ROOT.parent / "shared")) / "external"


@dataclass
class QA:
    id: str
    question: str
    answers: list[str]
    gold_doc_ids: list[str]
    history: list[dict[str, str]] = field(default_factory=list)


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def docs_path(name: str) -> Path:
    return external_dir() / f"{name}.docs.jsonl"


def eval_questions(name: str) -> list[QA]:
    return [
        QA(str(r["id"]), str(r["question"]), list(r["answers"]), list(r["gold_doc_ids"]))  # type: ignore[call-overload]
        for r in read_jsonl(external_dir() / f"{name}.eval.jsonl")
    ]


def doc_ids(name: str) -> set[str]:
    return {str(r["doc_id"]) for r in read_jsonl(docs_path(name))}


def _gz_json(path: Path) -> dict[str, object]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        data: dict[str, object] = json.load(fh)
    return data


def _squad(name: str, prefix: str, files: list[tuple[str, str]], para_id: str) -> Iterator[QA]:
    """SQuAD-like raw files -> QA, doc id ``prefix:split:<paragraph id>``."""
    raw = external_dir() / name / "raw"
    for split, fname in files:
        data = _gz_json(raw / fname)
        for art in data["data"]:  # type: ignore[attr-defined]
            for pi, para in enumerate(art["paragraphs"]):
                pid = f"{art['caseid']}-{pi}" if para_id == "caseid" else str(para["id"])
                for qa in para["qas"]:
                    answers = [a["text"] for a in qa.get("answers", []) if a.get("text")]
                    impossible = str(qa.get("is_impossible", "false")).lower() == "true"
                    if impossible or not answers or set(answers) <= {"YES", "NO"}:
                        continue
                    yield QA(f"{prefix}:{split}:{qa['id']}", qa["question"], sorted(set(answers)),
                             [f"{prefix}:{split}:{pid}"])


def _raw_questions(name: str) -> Iterator[QA]:
    raw = external_dir() / name / "raw"
    if name == "ncp_policy":
        with gzip.open(raw / "NCPPolicies_train_20200301.csv.gz", "rt", encoding="utf-8") as fh:
            text = fh.read()
        for row in csv.DictReader(io.StringIO(text), delimiter="\t"):
            yield QA(f"ncp:{row['id']}", row["question"], [row["answer"]], [f"ncp:{row['docid']}"])
    elif name == "cail2019_rc":
        yield from _squad(name, "cail2019", [("dev", "cail2019_rc_dev_ground_truth.json.gz"),
                                             ("test", "cail2019_rc_test_ground_truth.json.gz")], "caseid")
    elif name == "drcd":
        yield from _squad(name, "drcd", [("dev", "DRCD_dev.json.gz"), ("test", "DRCD_test.json.gz")], "id")
    elif name == "cmrc2018":
        files = [("dev", "cmrc2018_dev.json.gz"), ("trial", "cmrc2018_trial.json.gz")]
        yield from _squad(name, "cmrc2018", files, "id")
    else:
        raise ValueError(f"unknown external set {name}")


def tuning_questions(name: str, limit: int | None = None, seed: int = 7) -> list[QA]:
    """Raw questions not in the eval file whose gold document is in the docs file."""
    import random

    held_out = {q.id for q in eval_questions(name)}
    held_q = {q.question for q in eval_questions(name)}
    known = doc_ids(name)
    out = [q for q in _raw_questions(name)
           if q.id not in held_out and q.question not in held_q and all(g in known for g in q.gold_doc_ids)]
    random.Random(seed).shuffle(out)
    return out[:limit] if limit else out
