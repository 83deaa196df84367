"""The multi-node deployment's figures (issue 19), each beside a reference measured in the same run:

1. ``/api/search`` and ``/api/chat`` latency with the vectors on Chroma's own server (``chroma
   run``, SHEGONG_CHROMA_URL) beside the same store embedded, at each ``--scale-sizes`` size. The
   store is built once per size from reused vectors (:func:`~eval.bench.corpus.build_reused`,
   nothing embedded); ``chroma run --path`` serves a copy of its embedded Chroma directory as it
   is (the embedded client is chromadb's ``PersistentClient`` on the same on-disk format, and the
   node's own ``/api/health`` must count every chunk's vector on the server).
2. Throughput of 1 node and of 2 nodes at p95 < 1 s: real ``shegong serve`` processes sharing a
   PostgreSQL manifest and records database (made by the bench, dropped afterwards), the Chroma
   server and Redis, as ``tests/scale/test_two_nodes.py`` runs them; closed-loop client threads send
   the corpus's questions to ``/api/chat`` at stepped concurrency, round-robin over the nodes; CPU
   seconds of every process (psutil) per step.
3. Ingest end -> the other node answers: a new small document uploaded through node 1's API; from
   the moment the upload returns, node 2's ``/api/search`` is polled every 50 ms until the document
   is among its hits.

The cluster figures (2 and 3) use the largest size. Its PostgreSQL manifest is written by the
same ``build_reused`` (the project's Manifest and Ingestor, with SHEGONG_DATABASE_URL and
SHEGONG_CHROMA_URL settings); its ``Ingestor.reconcile`` finds the Chroma server already holding
exactly those chunks and leaves it as it is.
"""

from __future__ import annotations

import itertools
import os
import shutil
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.bench.cluster import REDIS_URL, ChromaServer, postgres_db, redis_answers
from eval.bench.corpus import Corpus, build_reused
from eval.bench.latency import latency_summary, serve_latency, shegong_node
from eval.bench.table import row

SIZES = (10_000, 100_000)
QUICK_SIZES = (2_000, 5_000)
STEPS = (1, 2, 4, 8, 16)
QUICK_STEPS = (1, 2, 4)
P95_LIMIT_MS = 1000.0
POLL_S = 0.05
# The new documents of figure 3: a topic and a sentence; each gets a code of letters of its own,
# which is one BM25 token (``app/core/lexical.py``) that no other chunk holds.
PROBES = (
    ("上门理发", "行动不便的老人可以预约上门理发，每月一次，由社区志愿者服务队安排，费用全免。"),
    ("助餐送餐", "八十岁以上独居老人可以申请助餐送餐，每天中午送到家，每餐自付五元，其余由街道补贴。"),
    ("紧急呼叫", "独居老人家中可免费安装紧急呼叫器，按下按钮后社区服务中心和家属同时收到通知。"),
    ("适老化改造", "困难老人家庭可以申请适老化改造，安装扶手和防滑地面，由区民政局审核后施工。"),
    ("陪同就医", "没有子女照顾的老人可以申请陪同就医，由社工陪同挂号、取药，每月最多两次。"),
)


@dataclass
class ScaleOptions:
    """What the scale part measures: store sizes in chunks, the concurrency steps and how long each
    lasts, how many new documents figure 3 uploads, warm-up questions per server."""

    sizes: Sequence[int] = SIZES
    steps: Sequence[int] = STEPS
    step_s: float = 20.0
    probes: int = 5
    warmup: int = 3
    limit_ms: float = P95_LIMIT_MS


Say = Callable[[str], None]


def _quiet(msg: str) -> None:
    return None


# -- CPU seconds of the processes of a deployment -----------------------------------------------
class CpuMeter:
    """User + system CPU seconds (psutil) of named processes between two snapshots: fixed pids (the
    nodes, the Chroma server, this process), the PostgreSQL backends connected to ``database`` and
    the machine's ``redis-server`` (all of it: other clients count too). A backend that ends between
    two snapshots takes its seconds with it."""

    def __init__(self, pids: Mapping[str, int | None], database: str | None = None, redis: bool = True) -> None:
        self.pids = {name: pid for name, pid in pids.items() if pid is not None}
        self.database = database
        self.redis = redis

    @staticmethod
    def _cpu(pid: int) -> float | None:
        import psutil

        try:
            t = psutil.Process(pid).cpu_times()
        except psutil.Error:
            return None
        return float(t.user + t.system)

    def _matching(self) -> dict[str, list[int]]:
        import psutil

        out: dict[str, list[int]] = {}
        for p in psutil.process_iter(["name", "cmdline"]):
            try:
                name, cmd = p.info["name"] or "", " ".join(p.info["cmdline"] or [])
            except psutil.Error:
                continue
            if self.database and name == "postgres" and f" {self.database} " in f"{cmd} ":
                out.setdefault("PostgreSQL backends", []).append(p.pid)
            elif self.redis and name == "redis-server":
                out.setdefault("redis-server", []).append(p.pid)
        return out

    def snapshot(self) -> dict[str, dict[int, float]]:
        groups: dict[str, list[int]] = {name: [pid] for name, pid in self.pids.items()}
        groups["bench client (this process)"] = [os.getpid()]
        groups.update(self._matching())
        snap: dict[str, dict[int, float]] = {}
        for name, pids in groups.items():
            snap[name] = {pid: cpu for pid in pids if (cpu := self._cpu(pid)) is not None}
        return snap

    @staticmethod
    def delta(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
        return {name: round(sum(v - before.get(name, {}).get(pid, 0.0) for pid, v in pids.items()), 2)
                for name, pids in after.items()}


# -- load --------------------------------------------------------------------------------------
def closed_loop(urls: Sequence[str], questions: Sequence[str], concurrency: int, seconds: float,
                offset: int = 0, path: str = "/api/chat") -> dict[str, Any]:
    """``concurrency`` client threads, each sending the next question as soon as its last answer
    came, for ``seconds`` (requests in flight then are finished and counted); request n goes to
    ``urls[n % len(urls)]``. Latency is the client's wall time per request; rps = answered (200)
    requests / wall time of the step."""
    import httpx

    counter = itertools.count()
    lock = threading.Lock()
    ms: list[float] = []
    per_node = [0] * len(urls)
    statuses: dict[int, int] = {}
    first_error: list[str] = []
    clients = [[httpx.Client(base_url=u, timeout=300) for u in urls] for _ in range(concurrency)]
    start = threading.Barrier(concurrency + 1)
    stop_at = [0.0]

    def worker(mine: list[httpx.Client]) -> None:
        start.wait()
        while time.perf_counter() < stop_at[0]:
            n = next(counter)
            node = n % len(urls)
            q = questions[(offset + n) % len(questions)]
            t = time.perf_counter()
            try:
                r = mine[node].post(path, json={"question": q, "save": False} if path == "/api/chat"
                                    else {"query": q, "k": 10})
                status, text = r.status_code, r.text
            except httpx.HTTPError as exc:
                status, text = 0, repr(exc)
            took = (time.perf_counter() - t) * 1000
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    ms.append(took)
                    per_node[node] += 1
                elif not first_error:
                    first_error.append(f"{status}: {text[:300]}")

    threads = [threading.Thread(target=worker, args=(c,), daemon=True) for c in clients]
    for th in threads:
        th.start()
    t0 = time.perf_counter()
    stop_at[0] = t0 + seconds
    start.wait()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    for mine in clients:
        for c in mine:
            c.close()
    sent = sum(statuses.values())
    out: dict[str, Any] = {"concurrency": concurrency, "sent": sent, "ok": len(ms), "errors": sent - len(ms),
                           "statuses": {str(k): v for k, v in sorted(statuses.items())},
                           "per_node": per_node, "wall_s": round(wall, 2)}
    if ms:
        out.update(latency_summary(ms, wall))
        out["rps"] = out.pop("qps")
    if first_error:
        out["first_error"] = first_error[0]
    return out


def load_steps(urls: Sequence[str], questions: Sequence[str], opts: ScaleOptions, meter: CpuMeter,
               say: Say = _quiet, label: str = "") -> dict[str, Any]:
    """:func:`closed_loop` at each concurrency of ``opts.steps``, the CPU seconds of every process
    per step; stops after the first step whose p95 is over the limit (past saturation a closed loop
    only queues longer). ``best``: the step of most rps with p95 under the limit and no errors."""
    steps: list[dict[str, Any]] = []
    offset = 0
    import psutil

    for c in opts.steps:
        before, machine = meter.snapshot(), psutil.cpu_times()
        r = closed_loop(urls, questions, c, opts.step_s, offset)
        r["cpu_s"] = CpuMeter.delta(before, meter.snapshot())
        r["machine_busy_cores"] = _busy_cores(machine, psutil.cpu_times())
        offset += r["sent"]
        steps.append(r)
        say(f"scale: {label} c={c}: {r['ok']}/{r['sent']} answered, {r.get('rps')} req/s, p95 {r.get('p95_ms')} ms")
        if r.get("p95_ms", float("inf")) >= opts.limit_ms:
            break
    fine = [s for s in steps if s["errors"] == 0 and s.get("p95_ms", float("inf")) < opts.limit_ms]
    best = max(fine, key=lambda s: s["rps"]) if fine else None
    cpu: dict[str, float] = {}
    for s in steps:
        for name, v in s["cpu_s"].items():
            cpu[name] = round(cpu.get(name, 0.0) + v, 2)
    return {"urls": list(urls), "steps": steps, "best": best, "cpu_s": cpu,
            "requests": sum(s["sent"] for s in steps), "answered": sum(s["ok"] for s in steps),
            "not_run": [c for c in opts.steps if c not in {s["concurrency"] for s in steps}]}


def _busy_cores(before: Any, after: Any) -> float:
    """Cores the whole machine kept busy between two ``psutil.cpu_times()`` (every process, not
    only the measured ones): the share of non-idle time times the number of cores."""
    spent = sum(after) - sum(before)
    idle = (after.idle - before.idle) + (getattr(after, "iowait", 0.0) - getattr(before, "iowait", 0.0))
    return round((spent - idle) / spent * (os.cpu_count() or 1), 2) if spent > 0 else 0.0


def warm(urls: Sequence[str], questions: Sequence[str], n: int) -> None:
    """``n`` searches and chats on each node before anything is timed (loads the model, builds the
    BM25 index of a node with an empty data dir)."""
    import httpx

    for url in urls:
        with httpx.Client(base_url=url, timeout=900) as client:
            for q in questions[:max(n, 1)]:
                for path, body in (("/api/search", {"query": q, "k": 10}), ("/api/chat", {"question": q, "save": False})):
                    r = client.post(path, json=body)
                    if r.status_code != 200:
                        raise RuntimeError(f"{url}{path} answered {r.status_code}: {r.text[:300]}")


# -- ingest end -> the other node answers --------------------------------------------------------
def _code() -> str:
    """Eight letters (one BM25 token, unlike letters mixed with digits)."""
    return uuid.uuid4().hex[:8].translate(str.maketrans("0123456789", "ghijklmnop"))


def propagation(writer: str, reader: str, n: int, *, poll_s: float = POLL_S, timeout_s: float = 600) -> dict[str, Any]:
    """Upload ``n`` new small documents through ``writer`` (``POST /api/documents``), one at a time;
    from the moment each upload returns, poll ``reader``'s ``/api/search`` (k=10) every ``poll_s``
    until the new document is among the hits. Per document: that time (to the answer of the poll
    that found it), the polls it took, the upload's own time, the reader's search latency for the
    same query just before the upload (the reference) and whether the writer finds it too."""
    import httpx

    samples: list[dict[str, Any]] = []
    with httpx.Client(timeout=timeout_s) as client:

        def search(url: str, query: str) -> tuple[float, list[str]]:
            t = time.perf_counter()
            r = client.post(url + "/api/search", json={"query": query, "k": 10})
            ms = (time.perf_counter() - t) * 1000
            if r.status_code != 200:
                raise RuntimeError(f"{url}/api/search answered {r.status_code}: {r.text[:300]}")
            return ms, [h["doc_id"] for h in r.json()["hits"]]

        for i in range(n):
            topic, sentence = PROBES[i % len(PROBES)]
            code = _code()
            name = f"scale-probe-{code}.txt"
            query = f"{topic}服务编号{code}怎么申请？"
            text = f"{topic}服务（编号{code}）：{sentence}"
            ref_ms, before = search(reader, query)
            t = time.perf_counter()
            up = client.post(writer + "/api/documents", files={"file": (name, text.encode(), "text/plain")})
            upload_s = time.perf_counter() - t
            if up.status_code not in (200, 201) or up.json().get("status") not in ("added", "updated"):
                raise RuntimeError(f"upload to {writer} answered {up.status_code}: {up.text[:300]}")
            doc_id = str(up.json()["doc_id"])
            if doc_id in before:
                raise RuntimeError(f"{doc_id} was found before it was uploaded")
            t_end = time.perf_counter()
            polls = 0
            while True:
                t_poll = time.perf_counter()
                _, hits = search(reader, query)
                polls += 1
                if doc_id in hits:
                    seen_ms = (time.perf_counter() - t_end) * 1000
                    break
                if time.perf_counter() - t_end > timeout_s:
                    raise RuntimeError(f"{reader} did not find {doc_id} within {timeout_s} s")
                time.sleep(max(0.0, poll_s - (time.perf_counter() - t_poll)))
            writer_ms, writer_hits = search(writer, query)
            samples.append({"doc_id": doc_id, "seen_ms": round(seen_ms, 1), "polls": polls,
                            "upload_s": round(upload_s, 2), "reader_search_before_ms": round(ref_ms, 1),
                            "writer_finds_it": doc_id in writer_hits, "writer_search_ms": round(writer_ms, 1)})
    seen = [s["seen_ms"] for s in samples]
    return {"samples": samples, "n": len(samples), "median_ms": round(statistics.median(seen), 1),
            "max_ms": round(max(seen), 1), "min_ms": round(min(seen), 1), "poll_s": poll_s,
            "upload_median_s": round(statistics.median(s["upload_s"] for s in samples), 2),
            "reader_search_before_p50_ms": round(statistics.median(s["reader_search_before_ms"] for s in samples), 1)}


# -- the part ------------------------------------------------------------------------------------
def _size_label(chunks: int) -> str:
    return f"~{round(chunks / 1000)}k" if chunks >= 1000 else f"{chunks}-chunk"


def _cpu_text(cpu: Mapping[str, float], requests: int) -> str:
    per = f" ({', '.join(f'{k} {1000 * v / requests:.0f}' for k, v in cpu.items())} CPU ms per request)" if requests else ""
    return ", ".join(f"{k} {v:.1f}" for k, v in cpu.items()) + per


def _steps_text(res: Mapping[str, Any]) -> str:
    parts = [f"c={s['concurrency']} {s.get('rps', 0)} req/s p95 {s.get('p95_ms', '—')} ms, machine "
             f"{s.get('machine_busy_cores', '—')} of {os.cpu_count()} cores busy"
             + (f" ({s['errors']} errors)" if s["errors"] else "") for s in res["steps"]]
    if res["not_run"]:
        parts.append(f"c={','.join(map(str, res['not_run']))} not run (p95 already over the limit)")
    return "; ".join(parts)


def _latency_rows(what: str, corpus: str, res: Mapping[str, Any], ref: Mapping[str, Any] | None,
                  ref_what: str) -> list[dict[str, Any]]:
    out = []
    for part, label in (("search", f"/api/search k={res['search']['k']}"), ("chat", "/api/chat")):
        if part not in res:
            continue
        f = res[part]
        naive: dict[str, Any] = ({"p50_ms": ref[part]["p50_ms"], "p95_ms": ref[part]["p95_ms"], "what": ref_what}
                                 if ref is not None and part in ref else {"note": ref_what})
        out.append(row(f"{what}: {label}", corpus, res["chunks"], docs=res["documents"], p50=f["p50_ms"],
                       p95=f["p95_ms"], throughput=f["qps"], unit="q/s", peak_rss_mb=res["peak_rss_mb"], naive=naive,
                       took_s=res["took_s"] if part == "search" else None,
                       extra={k: v for k, v in res.items() if k != "data_dir"} if part == "search" else None))
    return out


def bench_scale(source: Corpus, opts: ScaleOptions, work_dir: Path,
                say: Say = _quiet) -> tuple[list[dict[str, Any]], list[str]]:
    """The scale part's rows and notes over stores made from ``source`` (see the module's doc);
    everything it makes lives in ``work_dir`` or in a PostgreSQL database dropped at the end, and
    every process it starts is stopped before it returns."""
    import psutil

    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    sizes = sorted(opts.sizes)
    questions = list(source.questions)
    if len(set(questions)) <= 32:
        notes.append(f"scale: {len(set(questions))} distinct questions; each node keeps the vectors of its last 32 "
                     "questions, so repeats skip embedding the question")
    for size in sizes:
        copies = max(1, round(size / max(source.chunks, 1)))
        base = work_dir / f"s{size}"
        dest = base / "data"
        corpus = f"{source.name} ×{copies}"
        say(f"scale: {copies} copies of {source.name} ({source.chunks} chunks) under new ids, embedded Chroma")
        built = build_reused(source.data_dir, dest, copies)
        k = _size_label(built["chunks"])
        say(f"scale: {built['chunks']} chunks: {len(questions)} queries, embedded Chroma")
        emb = serve_latency(dest, questions, warmup=opts.warmup)
        shutil.copytree(dest / "chroma", base / "chroma-server")
        chroma = ChromaServer(base / "chroma-server")
        chroma.start()
        try:
            say(f"scale: {built['chunks']} chunks: {len(questions)} queries, Chroma server ({chroma.url})")
            meter = CpuMeter({"Chroma server": chroma.pid}, redis=False)
            before = meter.snapshot()
            srv = serve_latency(dest, questions, warmup=opts.warmup, env={"SHEGONG_CHROMA_URL": chroma.url})
            chroma_cpu = CpuMeter.delta(before, meter.snapshot()).get("Chroma server")
            chroma_rss = round(psutil.Process(chroma.pid).memory_info().rss / 2**20) if chroma.pid else None
            if srv["vector_store"] != "server" or srv["vectors"] != srv["chunks"] or srv["chunks"] != built["chunks"]:
                raise RuntimeError(f"the Chroma server on a copy of {dest / 'chroma'} does not serve the store: {srv}")
            rows += _latency_rows(f"{k} reused, embedded Chroma", corpus, emb, None, "reference for the Chroma-server rows")
            rows += _latency_rows(f"{k} reused, Chroma server (chroma run)", corpus, srv, emb,
                                  "embedded Chroma, same vectors")
            notes.append(
                f"scale {k}: {copies} × {source.name} = {built['chunks']} chunks, built in {built['seconds']} s "
                f"(embedder loaded: {built['embedder_loaded']}); `chroma run --path` serves a copy of its embedded "
                f"Chroma directory as it is ({srv['vectors']} vectors counted by the node's /api/health); Chroma "
                f"server RSS {chroma_rss} MB, {chroma_cpu} CPU s over the server run; node RSS when ready: embedded "
                f"{emb['rss_ready_mb']} MB, server {srv['rss_ready_mb']} MB")
            if size == sizes[-1]:
                r, n = _cluster(source, copies, corpus, k, chroma, work_dir / "cluster", opts, say)
                rows += r
                notes += n
        finally:
            chroma.stop()
            shutil.rmtree(base, ignore_errors=True)
    return rows, notes


def _cluster(source: Corpus, copies: int, corpus: str, k: str, chroma: ChromaServer, work: Path,
             opts: ScaleOptions, say: Say) -> tuple[list[dict[str, Any]], list[str]]:
    """Figures 2 and 3 on a PostgreSQL manifest beside ``chroma`` (which already holds the vectors)."""
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    questions = list(source.questions)
    with postgres_db() as db_url:
        if db_url is None:
            return rows, ["scale: no PostgreSQL answers: the 1-node/2-node and ingest-to-other-node figures "
                          "were not measured"]
        redis_down = redis_answers(REDIS_URL)
        if redis_down:
            notes.append(f"scale: {redis_down}: the nodes keep their limits in memory")
        say(f"scale: {copies} copies of {source.name} into a PostgreSQL manifest beside the Chroma server")
        built = build_reused(source.data_dir, work / "node1", copies, database_url=db_url, chroma_url=chroma.url)
        shared = {"SHEGONG_DATABASE_URL": db_url, "SHEGONG_CHROMA_URL": chroma.url,
                  "SHEGONG_REDIS_URL": "" if redis_down else REDIS_URL,
                  "SHEGONG_RATE_CHAT_PER_MIN": "1000000", "SHEGONG_RATE_UPLOAD_PER_HOUR": "1000000"}
        database = db_url.rsplit("/", 1)[1]
        with shegong_node(work / "node1", shared) as one:
            say("scale: 1 node: warm-up, then the load steps")
            warm([one.url], questions, opts.warmup)
            single = load_steps([one.url], questions, opts,
                                CpuMeter({"node 1": one.proc.pid, "Chroma server": chroma.pid}, database), say, "1 node")
            with shegong_node(work / "node2", shared) as two:  # an empty data dir, no ingest of its own
                health2 = two.health
                say("scale: 2 nodes: warm-up, then the load steps")
                warm([one.url, two.url], questions, opts.warmup)
                double = load_steps([one.url, two.url], questions, opts,
                                    CpuMeter({"node 1": one.proc.pid, "node 2": two.proc.pid,
                                              "Chroma server": chroma.pid}, database), say, "2 nodes")
                say(f"scale: {opts.probes} new documents through node 1, polling node 2")
                prop = propagation(one.url, two.url, opts.probes)
        rss = {"node 1": round(one.peak_rss_mb), "node 2": round(two.peak_rss_mb)}

    def best_cells(res: Mapping[str, Any]) -> dict[str, Any]:
        b = res["best"]
        return {"p50": b["p50_ms"], "p95": b["p95_ms"], "throughput": b["rps"]} if b else {}

    label = f"{k} on PostgreSQL + Chroma server + Redis: /api/chat, most req/s at p95 < {opts.limit_ms:.0f} ms"
    b1 = single["best"]
    rows.append(row(f"{label}, 1 node", corpus, built["chunks"], docs=built["documents"], unit="req/s",
                    peak_rss_mb=rss["node 1"], naive={"note": "reference for the 2-node row"},
                    extra={"build": built, "load": single}, **best_cells(single)))
    rows.append(row(f"{label}, 2 nodes (round-robin)", corpus, built["chunks"], docs=built["documents"], unit="req/s",
                    peak_rss_mb=max(rss.values()),
                    naive={"note": f"1 node: {b1['rps']} req/s, p95 {b1['p95_ms']} ms at c={b1['concurrency']}"
                           if b1 else "1 node: no step under the limit"},
                    extra={"load": double, "node2_health": health2}, **best_cells(double)))
    rows.append(row(f"{k}: upload on node 1 returns -> node 2's /api/search finds it (polled every "
                    f"{POLL_S * 1000:.0f} ms): median of {prop['n']}, max {prop['max_ms']:.0f} ms", corpus,
                    built["chunks"] + prop["n"], p50=prop["median_ms"],
                    naive={"note": f"node 2 /api/search before the upload p50 {prop['reader_search_before_p50_ms']} ms; "
                                   f"the upload itself {prop['upload_median_s']} s (median)"},
                    extra=prop))
    for name, res in (("1 node", single), ("2 nodes", double)):
        b = res["best"]
        notes.append(f"scale {name}: {opts.step_s:g} s per step, closed loop: {_steps_text(res)}; best "
                     + (f"{b['rps']} req/s at c={b['concurrency']} (answered per node {b['per_node']})" if b else
                        f"none under {opts.limit_ms:.0f} ms"))
        notes.append(f"scale {name}: CPU s over its {res['requests']} requests: {_cpu_text(res['cpu_s'], res['requests'])}")
    notes.append(
        f"scale cluster: manifest and records in a bench-made PostgreSQL database (dropped afterwards), built by "
        f"build_reused in {built['seconds']} s ({built['manifest']}; reconcile restored {built['restored_into_chroma']} "
        f"vectors: the Chroma server already held them); node 1 on that data dir, node 2 on an empty one "
        f"(it reported {health2.get('documents')} documents, {health2.get('vectors')} vectors, limits "
        f"{health2.get('limits')}); auth off, rate limits raised out of the way")
    notes.append("scale cluster: both nodes, the Chroma server, PostgreSQL, Redis and the client share this "
                 f"machine's {os.cpu_count()} cores, so a second node here cannot add CPU: the 2-node figure shows "
                 "the overhead and fairness of the shared deployment, not the gain of a second machine")
    notes.append("scale propagation: " + "; ".join(
        f"{s['seen_ms']:.0f} ms ({s['polls']} polls, upload {s['upload_s']} s, node 1 finds it: "
        f"{s['writer_finds_it']})" for s in prop["samples"])
        + "; when the manifest's generation changes, node 2 reads only the documents whose stamps changed and "
        "lays their chunks over its BM25 index (app/core/lexical.py), rebuilding it only past the overlay's limit")
    return rows, notes
