"""``make bench``: speed and memory figures, printed as one table.

Every measurement runs real code in a child process, so its peak RSS is the child's own (from
``wait4``) and start-up is included where it says so:

* ingest: the ``shegong ingest`` CLI on an empty data dir (cold: every chunk embedded, model load
  included), then again with nothing changed; seeds and the first ``--cail-docs`` documents of
  cail2019_rc. Children share the converted model in ``SHEGONG_MODELS_DIR`` (``DATA_DIR/models``).
* query latency of a real server: ``shegong serve`` on 127.0.0.1 over corpora of about 1k and 10k
  chunks built from the external QA sets (documents that answer the eval questions first), then N
  questions from the matching eval files sent one after another to ``/api/search`` (k=10) and
  ``/api/chat``; p50/p95 are client-measured wall times, the RSS is the server's peak.
  The corpora live in ``DATA_DIR/bench-cache/`` and their vectors come from the embeddings cache of
  earlier ingests (``DATA_DIR/ext/*``, the other bench corpora): embedding 10k chunks takes about
  12 minutes here, ingesting them with cached vectors about 25 s, and an unchanged corpus 2 s.
* search at about 50k chunks: the vectors and texts of the largest corpus written again under new
  doc and chunk ids (``-copy1`` … ``-copyN``) into a fresh data dir (manifest, then Chroma through
  ``Ingestor.reconcile``, then the BM25 index), and served the same way.
* the naive reference (the LangChain tutorial default: RecursiveCharacterTextSplitter 1000/200 over
  the raw text, dense search only in Chroma, the same embedder), measured in process in a child:
  embed the question + Chroma query k=10. Its index is embedded once and kept in the bench cache;
  by default only for corpora of up to ``--naive-max-chunks`` chunks.

Run it with nothing else busy: this machine has two cores. ``--quick`` runs the small corpora
only; ``--skip`` leaves parts out; ``--queries`` sets N.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.external import read_jsonl

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SHEGONG_SHARED_DIR", ROOT.parent / "shared"))
EXTERNAL = SHARED / "external"
DATA_DIR = Path(os.environ.get("SHEGONG_DATA_DIR") or ROOT / "data").resolve()
# Converted models are the same for every data dir: children share one copy instead of converting
# 470 MB into each fresh data dir.
MODELS_DIR = Path(os.environ.get("SHEGONG_MODELS_DIR") or DATA_DIR / "models")
CACHE_DIR = DATA_DIR / "bench-cache"
# The sets, in the order corpora are filled from them.
SET_ORDER = ("cail2019_rc", "drcd", "cmrc2018", "ncp_policy")
PARTS = ("ingest", "serve", "chat", "reuse", "naive")
NAIVE_SPLIT = (1000, 200)  # the LangChain tutorial's RecursiveCharacterTextSplitter chunk_size/overlap


# -- child processes ----------------------------------------------------------------------------
@dataclass
class Run:
    seconds: float
    peak_rss_mb: float
    report: dict[str, Any]


def child_env(data_dir: Path | None = None, **extra: str) -> dict[str, str]:
    env = {**os.environ, "SHEGONG_MODELS_DIR": str(MODELS_DIR), **extra}
    if data_dir is not None:
        env["SHEGONG_DATA_DIR"] = str(data_dir)
    return env


def run_child(cmd: list[str], env: dict[str, str], what: str) -> Run:
    """Run a Python child to the end; its own peak RSS comes from ``wait4``; JSON stdout is parsed."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, *cmd], cwd=ROOT, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}): {stderr.decode(errors='replace')[-2000:]}")
    report = json.loads(stdout) if stdout.strip().startswith(b"{") else {}
    return Run(seconds, usage.ru_maxrss / 1024, report)


def run_cli(args: list[str], data_dir: Path) -> Run:
    """Run ``shegong ARGS`` in a child on ``data_dir``."""
    return run_child(["-m", "app.cli", *args], child_env(data_dir), f"shegong {' '.join(args)}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: Sequence[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q))


def latency_summary(ms: Sequence[float], wall_s: float) -> dict[str, Any]:
    return {
        "n": len(ms),
        "p50_ms": round(pct(ms, 50), 1),
        "p95_ms": round(pct(ms, 95), 1),
        "mean_ms": round(sum(ms) / len(ms), 1),
        "qps": round(len(ms) / wall_s, 2) if wall_s > 0 else None,
    }


# -- ingest (the original rows) -----------------------------------------------------------------
def first_docs(src: Path, n: int, dest: Path) -> Path:
    with src.open(encoding="utf-8") as fh, dest.open("w", encoding="utf-8") as out:
        for i, line in enumerate(fh):
            if i >= n:
                break
            out.write(line)
    return dest


def bench_ingest(name: str, paths: list[Path], tmp: Path) -> dict[str, Any]:
    data = tmp / f"data-{name}"
    cold = run_cli(["ingest", *map(str, paths), "--json"], data)
    warm = run_cli(["ingest", *map(str, paths), "--json"], data)
    files: list[dict[str, Any]] = cold.report.get("files", [])
    chunks = sum(int(f.get("chunks", 0)) for f in files)
    return {
        "corpus": name,
        "docs": cold.report.get("added"),
        "chunks": chunks,
        "ingest_s": round(cold.seconds, 1),
        "chunks_per_s": round(chunks / cold.seconds, 1) if cold.seconds else None,
        "reingest_unchanged_s": round(warm.seconds, 2),
        "reingest_unchanged_count": warm.report.get("unchanged"),
        "peak_rss_mb": round(max(cold.peak_rss_mb, warm.peak_rss_mb)),
        "cold_rss_mb": round(cold.peak_rss_mb),
        "warm_rss_mb": round(warm.peak_rss_mb),
    }


def ingest_rows(r: dict[str, Any]) -> list[dict[str, Any]]:
    """The ingest figures as two table rows (cold, unchanged)."""
    return [
        row("ingest, cold (CLI, embeds every chunk)", r["corpus"], r["chunks"], docs=r["docs"],
            throughput=r["chunks_per_s"], unit="chunks/s", peak_rss_mb=r["cold_rss_mb"], took_s=r["ingest_s"],
            extra=r),
        row("re-ingest, nothing changed (CLI)", r["corpus"], r["chunks"], docs=r["docs"],
            throughput=round(r["docs"] / r["reingest_unchanged_s"], 1) if r["docs"] else None, unit="docs/s",
            peak_rss_mb=r["warm_rss_mb"], took_s=r["reingest_unchanged_s"]),
    ]


def row(measurement: str, corpus: str, chunks: int | None, *, docs: int | None = None, p50: float | None = None,
        p95: float | None = None, throughput: float | None = None, unit: str = "", peak_rss_mb: float | None = None,
        naive: dict[str, Any] | None = None, took_s: float | None = None,
        extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "measurement": measurement, "corpus": corpus, "docs": docs, "chunks": chunks, "p50_ms": p50, "p95_ms": p95,
        "throughput": throughput, "unit": unit,
        "peak_rss_mb": round(peak_rss_mb) if peak_rss_mb is not None else None,
        "naive": naive, "took_s": round(took_s, 1) if took_s is not None else None, "detail": extra or {},
    }


# -- corpora from the external sets -------------------------------------------------------------
def settings_for(data_dir: Path) -> Any:
    from app.core.settings import load_settings

    return load_settings(data_dir=data_dir, models_dir_override=MODELS_DIR)


def count_chunks(doc: dict[str, Any], size: int, overlap: int) -> int:
    """How many chunks ingest will make of a JSONL document (the same cleaner and splitter)."""
    from ingest.cleaners import clean
    from ingest.splitter import split_text

    cleaned = clean(str(doc["text"]), mask=True)
    if not cleaned.text.strip():
        return 0
    return len(split_text(cleaned.text, doc_id=str(doc["doc_id"]), title="", size=size, overlap=overlap))


def plan_docs(target_chunks: int, sets: Sequence[str] = SET_ORDER) -> tuple[list[dict[str, Any]], dict[str, int], int]:
    """Whole documents until about ``target_chunks`` chunks: set by set, in each set the documents
    that answer its eval questions first (so the questions are answerable), then the rest in file
    order. Returns (documents, documents per set, estimated chunks)."""
    settings = settings_for(DATA_DIR)
    chosen: list[dict[str, Any]] = []
    per_set: dict[str, int] = {}
    total = 0
    for name in sets:
        docs_file = EXTERNAL / f"{name}.docs.jsonl"
        if not docs_file.is_file():
            continue
        docs = list(read_jsonl(docs_file))
        gold: dict[str, int] = {}
        eval_file = EXTERNAL / f"{name}.eval.jsonl"
        if eval_file.is_file():
            for q in read_jsonl(eval_file):
                for g in q.get("gold_doc_ids", []):
                    gold.setdefault(str(g), len(gold))
        docs.sort(key=lambda d: gold.get(str(d["doc_id"]), len(gold)))  # stable: file order after the gold
        for d in docs:
            if total >= target_chunks:
                break
            n = count_chunks(d, settings.chunk_size, settings.chunk_overlap)
            if n == 0:
                continue
            chosen.append(d)
            per_set[name] = per_set.get(name, 0) + 1
            total += n
        if total >= target_chunks:
            break
    return chosen, per_set, total


def pick_questions(sets: Iterable[str], doc_ids: set[str], n: int) -> list[str]:
    """``n`` eval questions of ``sets``, round-robin over the sets: those whose gold documents are
    all in the corpus first, then the others; repeated only if there are not enough."""
    answerable: list[list[str]] = []
    others: list[list[str]] = []
    for name in sets:
        eval_file = EXTERNAL / f"{name}.eval.jsonl"
        if not eval_file.is_file():
            continue
        a: list[str] = []
        o: list[str] = []
        for q in read_jsonl(eval_file):
            (a if set(map(str, q.get("gold_doc_ids", []))) <= doc_ids else o).append(str(q["question"]))
        answerable.append(a)
        others.append(o)
    pool = _round_robin(answerable) + _round_robin(others)
    if not pool:
        raise RuntimeError(f"no eval questions in {EXTERNAL}")
    return [pool[i % len(pool)] for i in range(n)]


def _round_robin(lists: Sequence[Sequence[str]]) -> list[str]:
    out: list[str] = []
    for i in range(max((len(x) for x in lists), default=0)):
        out.extend(x[i] for x in lists if i < len(x))
    return out


def model_id() -> str:
    """The default embedder's identity (no model is loaded to know it)."""
    from app.service.factory import build_embedder

    return str(build_embedder(settings_for(DATA_DIR)).model_id)


def vector_cache_sources(exclude: Path | None = None, cache_dir: Path = CACHE_DIR) -> list[Path]:
    """Manifests of earlier ingests whose embeddings cache may hold the vectors we need."""
    found = sorted(DATA_DIR.glob("ext/*/manifest.sqlite3")) + sorted(cache_dir.glob("*/data/manifest.sqlite3"))
    return [p for p in found if exclude is None or p.resolve() != exclude.resolve()]


def seed_vector_cache(target: Any, sources: Iterable[Path], model: str) -> int:
    """Copy the embeddings cache of other manifests made with ``model`` into ``target`` (a
    :class:`Manifest`); the cache is keyed by model and embedded text, so ingest then embeds only
    what none of them had. Returns the number of vectors copied."""
    seen: set[str] = set()
    for src in sources:
        try:
            db = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=30)
            try:
                row = db.execute("SELECT value FROM meta WHERE key='embed_model'").fetchone()
                if not row or row[0] != model:
                    continue
                batch = [(k, _vec(b)) for k, b in db.execute("SELECT key, vector FROM embeddings") if k not in seen]
            finally:
                db.close()
        except sqlite3.Error as exc:
            print(f"(vector cache {src} unreadable: {exc})", file=sys.stderr)
            continue
        target.cache_vectors(batch)
        seen.update(k for k, _ in batch)
    return len(seen)


def _vec(blob: bytes) -> Any:
    import numpy as np

    return np.frombuffer(blob, dtype=np.float32)


@dataclass
class Corpus:
    name: str
    label: str
    root: Path  # holds docs/<name>.jsonl and data/
    data_dir: Path
    docs: int
    chunks: int
    sets: list[str]
    questions: list[str]
    build: dict[str, Any] = field(default_factory=dict)

    @property
    def docs_file(self) -> Path:
        return self.root / "docs" / f"{self.name}.jsonl"


def build_corpus(target_chunks: int, n_queries: int, cache_dir: Path = CACHE_DIR,
                 sets: Sequence[str] = SET_ORDER) -> Corpus:
    """The corpus of about ``target_chunks`` chunks in ``cache_dir``, ingested by the CLI with every
    vector that an earlier ingest made taken from its cache; cheap when it is already there."""
    t0 = time.perf_counter()
    docs, per_set, estimate = plan_docs(target_chunks, sets)
    if not docs:
        raise RuntimeError(f"no documents in {EXTERNAL}")
    name = f"ext{target_chunks}"
    root = cache_dir / name
    data = root / "data"
    corpus = Corpus(name, " + ".join(f"{s} {n}" for s, n in per_set.items()), root, data, len(docs), 0,
                    list(per_set), pick_questions(per_set, {str(d["doc_id"]) for d in docs}, n_queries))
    corpus.docs_file.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs)
    if not corpus.docs_file.is_file() or corpus.docs_file.read_text(encoding="utf-8") != body:
        corpus.docs_file.write_text(body, encoding="utf-8")
    return ingest_corpus(corpus, only_if_changed=True, extra={"estimated_chunks": estimate, "docs_per_set": per_set},
                         cache_dir=cache_dir, t0=t0)


def tiny_corpus(docs_file: Path, root: Path, questions: list[str], name: str = "tiny") -> Corpus:
    """A corpus of one JSONL file (for tests), ingested like the others into ``root/data``."""
    corpus = Corpus(name, docs_file.name, root, root / "data", 0, 0, [], list(questions))
    corpus.docs_file.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(docs_file, corpus.docs_file)
    return ingest_corpus(corpus)


def ingest_corpus(corpus: Corpus, *, only_if_changed: bool = False, extra: dict[str, Any] | None = None,
                  cache_dir: Path = CACHE_DIR, t0: float | None = None) -> Corpus:
    """``shegong ingest --sync`` of the corpus's docs folder into its data dir, after copying the
    vectors of earlier ingests into its embeddings cache; the manifest says what it holds."""
    from app.core.manifest import Manifest

    t0 = time.perf_counter() if t0 is None else t0
    settings = settings_for(corpus.data_dir)
    manifest = Manifest(settings.manifest_path)
    try:
        seeded = 0
        if not only_if_changed or len(manifest.documents()) != corpus.docs:
            seeded = seed_vector_cache(manifest, vector_cache_sources(settings.manifest_path, cache_dir), model_id())
    finally:
        manifest.close()
    ing = run_cli(["ingest", str(corpus.docs_file.parent), "--sync", "--json"], corpus.data_dir)
    manifest = Manifest(settings.manifest_path)
    try:
        corpus.chunks, corpus.docs = manifest.count_chunks(), len(manifest.documents())
    finally:
        manifest.close()
    corpus.build = {
        "seconds": round(time.perf_counter() - t0, 1),
        "ingest_s": round(ing.seconds, 1),
        "ingest_rss_mb": round(ing.peak_rss_mb),
        "added": ing.report.get("added"),
        "unchanged": ing.report.get("unchanged"),
        "removed": ing.report.get("removed"),
        "failed": len(ing.report.get("failed") or []),
        "embedded_fresh": ing.report.get("chunks_embedded"),
        "vectors_copied_from_caches": seeded,
        **(extra or {}),
    }
    return corpus


# -- a store of reused vectors under new ids ----------------------------------------------------
def build_reused(source: Path, dest: Path, copies: int) -> dict[str, Any]:
    """Write the documents, chunk texts and vectors of the data dir ``source`` ``copies`` times into
    the fresh data dir ``dest``, under doc ids ``<id>-copy1`` … ``<id>-copyN`` and the chunk ids an
    ingest of those documents would give. Only the project's own classes write: the manifest gets
    the documents and the cached vectors, ``Ingestor.reconcile`` fills Chroma from it (nothing is
    embedded: every vector is cached) and ``refresh_lexical`` builds the BM25 index."""
    from app.core.manifest import Manifest, embed_key
    from app.core.store import ChromaStore
    from app.service.factory import build_ingestor
    from ingest.pipeline import data_lock
    from ingest.splitter import chunk_id

    if copies < 1:
        raise ValueError("copies must be at least 1")
    if dest.exists() and any(dest.iterdir()):
        raise ValueError(f"{dest} is not empty: the copies go into a fresh data dir")
    t0 = time.perf_counter()
    src = Manifest(source / "manifest.sqlite3")
    ing = build_ingestor(settings_for(dest))
    try:
        model = ing.embedder.model_id
        if src.get_meta("embed_model") != model:
            raise ValueError(f"{source} holds vectors of {src.get_meta('embed_model')}, not {model}")
        by_doc: dict[str, list[Any]] = {}
        for c in src.chunks():
            by_doc.setdefault(c.doc_id, []).append(c)
        source_chunks = sum(len(v) for v in by_doc.values())
        keys = {embed_key(model, c.embed_text): c for cs in by_doc.values() for c in cs}
        vectors = src.cached_vectors(list(keys))
        missing = [c.chunk_id for k, c in keys.items() if k not in vectors]
        if missing:  # not in the cache (made elsewhere): take them from the source's Chroma
            store = ChromaStore(source / "chroma", model_id=model, dim=ing.embedder.dim)
            got = store.vectors(missing)
            by_id = {c.chunk_id: k for k, c in keys.items()}
            vectors.update({by_id[i]: v for i, v in got.items()})
            if len(vectors) < len(keys):
                raise RuntimeError(f"{len(keys) - len(vectors)} vectors of {source} are neither cached nor stored")
        # the copies hold the same sentences: their selector vectors come along (keyed by content)
        from app.core.sentences import sentence_texts

        sentence_keys = [embed_key(model, t) for t in
                         sentence_texts((c.title, c.heading, c.text) for cs in by_doc.values() for c in cs)]
        vectors.update(src.cached_vectors(sentence_keys))
        with data_lock(dest):
            ing.manifest.cache_vectors(vectors.items())
            if src.get_meta("sentence_vectors"):
                ing.manifest.set_meta("sentence_vectors", str(src.get_meta("sentence_vectors")))
            records = {r.doc_id: src.document(r.doc_id, with_text=True) for r in src.documents()}
            for i in range(1, copies + 1):
                for doc_id, rec in records.items():
                    if rec is None or doc_id not in by_doc:
                        continue
                    new_id = f"{doc_id}-copy{i}"
                    seen: dict[str, int] = {}
                    chunks = []
                    for c in sorted(by_doc[doc_id], key=lambda c: c.position):
                        dup = seen.get(c.text, 0)
                        seen[c.text] = dup + 1
                        chunks.append(dataclasses.replace(c, chunk_id=chunk_id(new_id, c.text, dup), doc_id=new_id))
                    copy = dataclasses.replace(rec, doc_id=new_id, fingerprint=f"copy{i}:{rec.fingerprint}",
                                               n_chunks=len(chunks), text="")
                    ing.manifest.put_document(copy, rec.text, chunks)
            t_manifest = time.perf_counter() - t0
            fixed = ing.reconcile()
            t_chroma = time.perf_counter() - t0 - t_manifest
            ing.refresh_lexical()
        embedded = bool(getattr(ing.embedder, "loaded", False))
        return {
            "source": str(source),
            "copies": copies,
            "source_docs": len(records),
            "source_chunks": source_chunks,
            "chunks": ing.manifest.count_chunks(),
            "vectors": ing.store.count(),
            "documents": len(ing.manifest.documents()),
            "restored_into_chroma": fixed["restored"],
            "embedder_loaded": embedded,  # False: not one vector was computed
            "manifest_s": round(t_manifest, 1),
            "chroma_s": round(t_chroma, 1),
            "seconds": round(time.perf_counter() - t0, 1),
        }
    finally:
        src.close()
        ing.manifest.close()


# -- a real server -----------------------------------------------------------------------------
def _stop(proc: subprocess.Popen[bytes], grace_s: float = 60) -> float:
    """SIGTERM, wait (then SIGKILL); the child's peak RSS in MB from ``wait4``."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return float(usage.ru_maxrss / 1024)
        if time.monotonic() > deadline:
            proc.kill()
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            return float(usage.ru_maxrss / 1024)
        time.sleep(0.1)


def serve_latency(data_dir: Path, questions: Sequence[str], *, k: int = 10, chat: bool = True, warmup: int = 3,
                  timeout_s: float = 900) -> dict[str, Any]:
    """Start ``shegong serve`` on ``data_dir`` (127.0.0.1, a free port), wait for ``/api/health``,
    send every question to ``/api/search`` (k) and, if ``chat``, to ``/api/chat``, one at a time;
    stop it with SIGTERM. ``warmup`` questions go first and are not counted."""
    import httpx
    import psutil

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = child_env(data_dir, SHEGONG_AUTH="off")
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        result: dict[str, Any] = {"data_dir": str(data_dir)}
        peak = 0.0
        try:
            deadline = time.monotonic() + timeout_s
            health: dict[str, Any] = {}
            while not health:
                try:
                    r = httpx.get(url + "/api/health", timeout=5)
                    if r.status_code == 200:
                        health = r.json()
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"server did not start: {log.read().decode(errors='replace')[-3000:]}")
                time.sleep(0.2)
            result.update(startup_s=round(time.perf_counter() - t0, 1), documents=health.get("documents"),
                          chunks=health.get("chunks"), vectors=health.get("vectors"))
            rss_ready = psutil.Process(proc.pid).memory_info().rss / 2**20
            with httpx.Client(base_url=url, timeout=120) as client:

                def post(path: str, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
                    t = time.perf_counter()
                    resp = client.post(path, json=body)
                    ms = (time.perf_counter() - t) * 1000
                    if resp.status_code != 200:
                        raise RuntimeError(f"{path} answered {resp.status_code}: {resp.text[:500]}")
                    return ms, resp.json()

                for q in questions[:warmup]:
                    post("/api/search", {"query": q, "k": k})
                ms_list: list[float] = []
                n_hits: list[int] = []
                t = time.perf_counter()
                for q in questions:
                    ms, out = post("/api/search", {"query": q, "k": k})
                    ms_list.append(ms)
                    n_hits.append(len(out["hits"]))
                    if "sample_doc_ids" not in result:
                        result["sample_doc_ids"] = [h["doc_id"] for h in out["hits"]]
                result["search"] = {**latency_summary(ms_list, time.perf_counter() - t),
                                    "k": k, "mean_hits": round(sum(n_hits) / len(n_hits), 2)}
                if chat:
                    for q in questions[:warmup]:
                        post("/api/chat", {"question": q, "save": False})
                    ms_list, refused = [], 0
                    t = time.perf_counter()
                    for q in questions:
                        ms, out = post("/api/chat", {"question": q, "save": False})  # no stored conversations
                        ms_list.append(ms)
                        refused += bool(out.get("refused"))
                    result["chat"] = {**latency_summary(ms_list, time.perf_counter() - t),
                                      "refused": refused, "mode": out.get("mode")}
            result["rss_ready_mb"] = round(rss_ready)
            result["rss_end_mb"] = round(psutil.Process(proc.pid).memory_info().rss / 2**20)
        finally:
            peak = _stop(proc)
    result["peak_rss_mb"] = round(peak)
    result["took_s"] = round(time.perf_counter() - t0, 1)
    return result


def server_rows(what: str, corpus: str, res: dict[str, Any], naive: dict[str, Any] | None) -> list[dict[str, Any]]:
    s = res["search"]
    out = [row(f"{what}: /api/search k={s['k']} (server)", corpus, res["chunks"], docs=res["documents"],
               p50=s["p50_ms"], p95=s["p95_ms"], throughput=s["qps"], unit="q/s", peak_rss_mb=res["peak_rss_mb"],
               naive=naive, took_s=res["took_s"], extra=res)]
    if "chat" in res:
        c = res["chat"]
        out.append(row(f"{what}: /api/chat (server, {c.get('mode')})", corpus, res["chunks"], docs=res["documents"],
                       p50=c["p50_ms"], p95=c["p95_ms"], throughput=c["qps"], unit="q/s",
                       peak_rss_mb=res["peak_rss_mb"]))
    return out


# -- the naive reference ------------------------------------------------------------------------
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


# -- the table ----------------------------------------------------------------------------------
def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.1f}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


def naive_cell(n: dict[str, Any] | None) -> str:
    if not n:
        return "—"
    if "note" in n:
        return str(n["note"])
    return (f"{_fmt(n['p50_ms'])} / {_fmt(n['p95_ms'])} ms · {_fmt(n['qps'])} q/s · {n['chunks']} chunks · "
            f"{n['peak_rss_mb']} MB")


def print_table(rows: list[dict[str, Any]]) -> None:
    cols = [("measurement", "measurement"), ("corpus", "corpus"), ("chunks", "chunks"), ("p50_ms", "p50 ms"),
            ("p95_ms", "p95 ms"), ("throughput", "throughput"), ("peak_rss_mb", "peak RSS MB"),
            ("naive", "naive p50 / p95 · q/s · chunks · peak RSS"), ("took_s", "took s")]
    if not rows:
        print("(no rows: every part was skipped or ../shared is absent)")
        return
    cells = []
    for r in rows:
        line = []
        for key, _ in cols:
            if key == "throughput":
                line.append(f"{_fmt(r['throughput'])} {r['unit']}" if r["throughput"] is not None else "—")
            elif key == "naive":
                line.append(naive_cell(r.get("naive")))
            else:
                line.append(_fmt(r.get(key)))
        cells.append(line)
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (_, h) in enumerate(cols)]
    print("  ".join(h.ljust(w) for (_, h), w in zip(cols, widths, strict=True)))
    for c in cells:
        print("  ".join(x.ljust(w) for x, w in zip(c, widths, strict=True)))


# -- main ---------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cail-docs", type=int, default=None, help="documents of cail2019_rc for the ingest rows (500)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON instead of the table")
    ap.add_argument("--json-out", type=Path, default=None, help="also write the figures as JSON to this file")
    ap.add_argument("--quick", action="store_true",
                    help="small corpora only: 1k chunks served, 5k reused, 100 cail docs ingested")
    ap.add_argument("--queries", type=int, default=200, help="questions per endpoint and corpus (200)")
    ap.add_argument("--sizes", default=None, help="corpus sizes in chunks, comma-separated (1000,10000)")
    ap.add_argument("--reuse-chunks", type=int, default=None, help="size of the reused-vector store (50000)")
    ap.add_argument("--naive-max-chunks", type=int, default=1000,
                    help="measure the naive reference on corpora up to this many chunks (1000); embedding its "
                         "index the first time takes ~3 min for the 1k corpus, ~30 min for 10k; then cached")
    ap.add_argument("--skip", action="append", default=[], choices=PARTS, help="leave a part out (repeatable)")
    ap.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    ap.add_argument("--naive-child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.naive_child:
        naive_child(args.naive_child)
        return
    skip = set(args.skip)
    sizes = [int(x) for x in (args.sizes or ("1000" if args.quick else "1000,10000")).split(",") if x.strip()]
    reuse_target = args.reuse_chunks or (5000 if args.quick else 50000)
    cail_docs = args.cail_docs or (100 if args.quick else 500)
    load_before = os.getloadavg()
    t_start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    timings: dict[str, float] = {}

    def say(msg: str) -> None:
        print(f"[{time.perf_counter() - t_start:6.0f} s] {msg}", file=sys.stderr, flush=True)

    if "ingest" not in skip:
        t = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="shegong-bench-") as tmpdir:
            tmp = Path(tmpdir)
            if (SHARED / "seeds").is_dir():
                say("ingest: seeds")
                rows += ingest_rows(bench_ingest("seeds", [SHARED / "seeds"], tmp))
            cail = EXTERNAL / "cail2019_rc.docs.jsonl"
            if cail.is_file():
                say(f"ingest: cail2019_rc[:{cail_docs}]")
                sub = first_docs(cail, cail_docs, tmp / f"cail2019_rc.first{cail_docs}.jsonl")
                rows += ingest_rows(bench_ingest(f"cail2019_rc[:{cail_docs}]", [sub], tmp))
        timings["ingest"] = time.perf_counter() - t

    corpora: list[Corpus] = []
    want_corpora = not ({"serve", "reuse", "naive"} <= skip)
    if want_corpora and not EXTERNAL.is_dir():
        notes.append(f"{EXTERNAL} is absent: no server, reuse or naive figures")
    elif want_corpora:
        for size in sizes:
            say(f"corpus ~{size} chunks: building in {args.cache_dir}")
            t = time.perf_counter()
            c = build_corpus(size, args.queries, args.cache_dir)
            corpora.append(c)
            timings[f"build {c.name}"] = time.perf_counter() - t
            b = c.build
            notes.append(
                f"{c.name}: {c.docs} docs ({c.label}), {c.chunks} chunks; built in {b['seconds']} s "
                f"(added {b['added']}, unchanged {b['unchanged']}, vectors embedded fresh {b['embedded_fresh']}, "
                f"copied from earlier caches {b['vectors_copied_from_caches']}); queries: {len(c.questions)} "
                f"eval questions of {', '.join(c.sets)}")
            naive: dict[str, Any] | None = None
            if "naive" not in skip:
                if size <= args.naive_max_chunks:
                    say(f"{c.name}: naive reference")
                    t = time.perf_counter()
                    naive = naive_search(c, c.questions)
                    timings[f"naive {c.name}"] = time.perf_counter() - t
                    ix = naive["index"]
                    notes.append(f"naive {c.name}: {ix['chunks']} chunks of {NAIVE_SPLIT[0]}/{NAIVE_SPLIT[1]}; index "
                                 + ("reused from the bench cache" if ix["reused"] else f"embedded in {ix['embed_s']} s"))
                else:
                    naive = {"note": f"not measured (> --naive-max-chunks {args.naive_max_chunks})"}
            if "serve" not in skip:
                say(f"{c.name}: server latency, {len(c.questions)} queries")
                t = time.perf_counter()
                res = serve_latency(c.data_dir, c.questions, chat="chat" not in skip)
                timings[f"serve {c.name}"] = time.perf_counter() - t
                rows += server_rows(f"~{size // 1000}k", f"{c.name}: {c.label} docs", res, naive)
                notes.append(f"server on {c.name}: ready in {res['startup_s']} s, RSS {res['rss_ready_mb']} MB when "
                             f"ready, {res['rss_end_mb']} MB after the queries")
            elif naive and "p50_ms" in naive:
                rows.append(row("naive dense search only", c.name, naive["chunks"], p50=naive["p50_ms"],
                                p95=naive["p95_ms"], throughput=naive["qps"], unit="q/s",
                                peak_rss_mb=naive["peak_rss_mb"], took_s=naive["took_s"]))

    if "reuse" not in skip and corpora:
        source = max(corpora, key=lambda c: c.chunks)
        copies = max(1, round(reuse_target / max(source.chunks, 1)))
        with tempfile.TemporaryDirectory(prefix="shegong-reuse-", dir=args.cache_dir) as tmpdir:
            dest = Path(tmpdir) / "data"
            say(f"reuse: {copies} copies of {source.name} ({source.chunks} chunks) under new ids")
            t = time.perf_counter()
            built = build_reused(source.data_dir, dest, copies)
            timings["reuse build"] = time.perf_counter() - t
            rows.append(row("build store of reused vectors under new ids (in process)", f"{source.name} ×{copies}",
                            built["chunks"], docs=built["documents"], throughput=round(built["chunks"] / built["seconds"])
                            if built["seconds"] else None, unit="chunks/s", took_s=built["seconds"], extra=built))
            notes.append(
                f"reused store: {copies} × {source.name} ({built['source_chunks']} chunks) = {built['chunks']} chunks "
                f"in the manifest, {built['vectors']} in Chroma; built in {built['seconds']} s (manifest "
                f"{built['manifest_s']} s, Chroma {built['chroma_s']} s, BM25 the rest), embedder loaded: "
                f"{built['embedder_loaded']}")
            if "serve" not in skip:
                say(f"reuse: server latency, {len(source.questions)} queries")
                t = time.perf_counter()
                res = serve_latency(dest, source.questions, chat="chat" not in skip)
                timings["serve reuse"] = time.perf_counter() - t
                rows += server_rows(f"~{round(built['chunks'] / 1000)}k reused vectors", f"{source.name} ×{copies} "
                                    "(new ids)", {**res, "build": built}, {"note": "n/a (would need re-embedding)"})
                notes.append(f"server on the reused store: ready in {res['startup_s']} s, RSS "
                             f"{res['rss_ready_mb']} MB when ready, {res['rss_end_mb']} MB after the queries")

    total = time.perf_counter() - t_start
    load_after = os.getloadavg()
    figures = json.dumps({"rows": rows, "notes": notes, "timings_s": {k: round(v, 1) for k, v in timings.items()},
                          "took_s": round(total, 1), "load_before": load_before, "load_after": load_after,
                          "cpus": os.cpu_count(), "queries": args.queries}, ensure_ascii=False, indent=1)
    if args.json_out:
        args.json_out.write_text(figures + "\n", encoding="utf-8")
    if args.json:
        print(figures)
        return
    print_table(rows)
    print()
    for n in notes:
        print(f"- {n}")
    print("- latencies: client wall time per request, one request at a time after 3 warm-up requests; "
          "throughput = requests / wall time; search and chat rows share one server, whose peak RSS (wait4) "
          "includes start-up; ingest includes process start-up, peak RSS of the CLI")
    print("- parts: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
    print(f"(bench took {total:.0f} s; load average 1/5/15 min before {load_before[0]:.2f}/{load_before[1]:.2f}/"
          f"{load_before[2]:.2f}, after {load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f}; "
          f"{os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
