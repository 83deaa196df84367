"""The naive reference measured beside the figures in the same run: the LangChain tutorial default
(RecursiveCharacterTextSplitter 1000/200, dense search only in Chroma, the same embedder), its
index built and queried in children."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval.bench.children import child_env, run_child
from eval.bench.config import DATA_DIR, NAIVE_SPLIT
from eval.bench.corpus import Corpus, settings_for
from eval.bench.latency import latency_summary
from eval.external import read_jsonl


def naive_splits(docs_file: Path) -> list[tuple[str, str]]:
    """(doc_id, chunk) pairs: RecursiveCharacterTextSplitter 1000/200 over the raw text."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=NAIVE_SPLIT[0], chunk_overlap=NAIVE_SPLIT[1],
                                              add_start_index=True)
    out: list[tuple[str, str]] = []
    for d in read_jsonl(docs_file):
        out.extend((str(d["doc_id"]), t) for t in splitter.split_text(str(d["text"])))
    return out


def naive_child(spec_path: Path) -> None:
    """In a child: ``build`` (embed the naive chunks into Chroma, unless already there) or
    ``query`` (embed each question, Chroma query k); prints JSON."""
    from app.core.settings import disable_telemetry

    disable_telemetry()
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    from app.service.factory import build_embedder

    embedder = build_embedder(settings_for(DATA_DIR))
    chroma_dir = Path(spec["chroma_dir"])
    if spec["mode"] == "build":
        splits = naive_splits(Path(spec["docs_file"]))
        h = hashlib.sha256(f"{embedder.model_id}\x1f{NAIVE_SPLIT}".encode())
        for doc_id, text in splits:
            h.update(f"{doc_id}\x1f{text}\x1e".encode())
        marker = {"fingerprint": h.hexdigest(), "chunks": len(splits), "model": embedder.model_id}
        marker_file = chroma_dir.parent / f"{chroma_dir.name}.json"
        if marker_file.is_file() and json.loads(marker_file.read_text()) == marker and chroma_dir.is_dir():
            print(json.dumps({"reused": True, "chunks": len(splits), "embed_s": 0.0}))
            return
        marker_file.unlink(missing_ok=True)
        shutil.rmtree(chroma_dir, ignore_errors=True)
        client = chromadb.PersistentClient(path=str(chroma_dir), settings=ChromaSettings(anonymized_telemetry=False))
        col = client.create_collection("naive")  # the defaults, as in the tutorial (L2 space)
        embedder.embed_query("预热")  # load the model before the clock starts
        t0 = time.perf_counter()
        step = 64
        for i in range(0, len(splits), step):
            part = splits[i : i + step]
            vecs = embedder.embed_passages([t for _, t in part])
            col.add(ids=[f"n{i + j}" for j in range(len(part))], embeddings=vecs,
                    documents=[t for _, t in part], metadatas=[{"doc_id": d} for d, _ in part])
        marker_file.write_text(json.dumps(marker))
        print(json.dumps({"reused": False, "chunks": len(splits), "embed_s": round(time.perf_counter() - t0, 1)}))
        return
    client = chromadb.PersistentClient(path=str(chroma_dir), settings=ChromaSettings(anonymized_telemetry=False))
    col = client.get_collection("naive")
    k = int(spec.get("k", 10))
    questions = list(spec["questions"])
    for q in questions[: int(spec.get("warmup", 3))]:
        col.query(query_embeddings=[embedder.embed_query(q)], n_results=k)
    ms: list[float] = []
    t = time.perf_counter()
    for q in questions:
        t1 = time.perf_counter()
        col.query(query_embeddings=[embedder.embed_query(q)], n_results=k,
                  include=["documents", "metadatas", "distances"])
        ms.append((time.perf_counter() - t1) * 1000)
    print(json.dumps({"chunks": col.count(), **latency_summary(ms, time.perf_counter() - t)}))


def naive_search(corpus: Corpus, questions: Sequence[str], k: int = 10) -> dict[str, Any]:
    """Naive dense-only search over the corpus's documents, each step in its own child."""
    chroma_dir = corpus.root / "naive-chroma"
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="shegong-naive-") as tmp:
        spec = Path(tmp) / "spec.json"
        spec.write_text(json.dumps({"mode": "build", "docs_file": str(corpus.docs_file),
                                    "chroma_dir": str(chroma_dir)}, ensure_ascii=False), encoding="utf-8")
        built = run_child(["-m", "eval.bench", "--naive-child", str(spec)], child_env(), "naive build")
        spec.write_text(json.dumps({"mode": "query", "chroma_dir": str(chroma_dir), "k": k,
                                    "questions": list(questions)}, ensure_ascii=False), encoding="utf-8")
        queried = run_child(["-m", "eval.bench", "--naive-child", str(spec)], child_env(), "naive query")
    return {
        **queried.report,
        "peak_rss_mb": round(queried.peak_rss_mb),
        "index": {**built.report, "seconds": round(built.seconds, 1), "peak_rss_mb": round(built.peak_rss_mb)},
        "took_s": round(time.perf_counter() - t0, 1),
        "what": f"RecursiveCharacterTextSplitter {NAIVE_SPLIT[0]}/{NAIVE_SPLIT[1]}, Chroma dense only, k={k}, "
                "same embedder, in process",
    }

