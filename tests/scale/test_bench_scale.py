"""The bench's scale part (eval/bench/scale.py) at tiny sizes, on real processes: the embedded store
and a ``chroma run`` server, one and two ``shegong serve`` nodes over a bench-made PostgreSQL
database and the machine's Redis, an upload on one node found by the other. Every figure must be
a real measurement; none is held to a speed. Nothing it started may be left behind."""

from __future__ import annotations

import json
import math
from pathlib import Path

import psutil
import pytest

from eval.bench.cluster import postgres_admin
from eval.bench.corpus import tiny_corpus
from eval.bench.scale import ScaleOptions, bench_scale
from tests.scale.cluster import redis_or_skip
from tests.support import fresh_postgres_db

pytestmark = [pytest.mark.slow, pytest.mark.integration]

DOCS = [
    ("gas", "燃气安全", "走访独居老人时要查看燃气安全：燃气灶的软管是否老化，用完是否关阀。发现燃气泄漏应立即开窗，"
                        "不要开关电器，拨打燃气公司抢修电话。每季度请物业检查一次燃气表和管道。"),
    ("allowance", "高龄津贴", "高龄津贴的申领：年满80周岁的本市户籍老人，由本人或家属持身份证和户口簿到居住地社区事务受理"
                            "服务中心申请，审核通过后次月起按月发放到本人社保卡。"),
    ("flood", "防汛准备", "汛期前居委会要排查地下室、低洼处的住户，登记行动不便的老人，准备沙袋和应急照明，"
                         "暴雨预警时逐户电话确认，必要时组织转移到临时安置点。"),
    ("meal", "老年助餐", "社区长者食堂为六十岁以上老人提供午餐，八十岁以上和低保老人可享受补贴，行动不便的可以申请送餐上门。"),
    ("care", "长护险", "长期护理保险的申请：六十周岁以上、经评估失能等级为二至六级的参保人，可以申请居家上门护理，"
                      "由定点护理机构派护理员上门服务，个人负担一成费用。"),
]
QUESTIONS = ["燃气泄漏了怎么办？", "高龄津贴去哪里申请？", "汛期前居委会要做什么？", "长护险怎么申请？"]


def _bench_databases() -> set[str]:
    with postgres_admin() as admin:
        return {r[0] for r in admin.execute("SELECT datname FROM pg_database WHERE datname LIKE 'shegong_bench_%'")}


def _real(x: object) -> bool:
    return isinstance(x, int | float) and math.isfinite(x) and x > 0


def test_the_scale_part_measures_every_figure_and_cleans_up(tmp_path: Path) -> None:
    redis_or_skip()
    with fresh_postgres_db():  # skips (in CI: fails) when no PostgreSQL answers
        pass
    docs_file = tmp_path / "tiny.jsonl"
    docs_file.write_text("".join(json.dumps({"doc_id": d, "title": t, "text": x}, ensure_ascii=False) + "\n"
                                 for d, t, x in DOCS), encoding="utf-8")
    corpus = tiny_corpus(docs_file, tmp_path / "tiny", QUESTIONS)
    assert corpus.chunks >= len(DOCS)
    sizes = (corpus.chunks * 40,)  # one size: each size starts two servers (~20 s each on two busy cores)
    databases = _bench_databases()

    rows, notes = bench_scale(corpus, ScaleOptions(sizes=sizes, steps=(1, 2), step_s=2.0, probes=2, warmup=1),
                              tmp_path / "scale")

    json.dumps({"rows": rows, "notes": notes}, ensure_ascii=False)  # --json can print them
    assert not psutil.Process().children(recursive=True)  # every node and Chroma server stopped
    assert _bench_databases() <= databases  # the bench's PostgreSQL database is dropped

    latency = [r for r in rows if " reused, " in r["measurement"]]
    assert len(latency) == 4 * len(sizes)  # search and chat, embedded and on the server, per size
    for r in latency:
        assert r["chunks"] == 40 * corpus.chunks, r
        assert all(_real(r[k]) for k in ("p50_ms", "p95_ms", "throughput")), r
    on_server = [r for r in latency if "Chroma server" in r["measurement"]]
    assert len(on_server) == 2 * len(sizes)
    assert all(_real(r["naive"]["p50_ms"]) and _real(r["naive"]["p95_ms"]) for r in on_server)  # embedded beside it
    assert all(r["detail"]["vector_store"] == "server" and r["detail"]["vectors"] == r["chunks"]
               for r in on_server if r["detail"])

    one, two = (next(r for r in rows if r["measurement"].endswith(end)) for end in (", 1 node", "nodes (round-robin)"))
    for r, nodes in ((one, ["node 1"]), (two, ["node 1", "node 2"])):
        load = r["detail"]["load"]
        assert r["chunks"] == 40 * corpus.chunks
        assert [s["concurrency"] for s in load["steps"]] == [1, 2][:len(load["steps"])] and load["steps"]
        for s in load["steps"]:
            assert s["n"] > 0 and s["ok"] == s["sent"] and s["errors"] == 0 and s["statuses"] == {"200": s["sent"]}
            assert all(_real(s[k]) for k in ("p50_ms", "p95_ms", "rps")), s
            assert sum(s["per_node"]) == s["ok"] and len(s["per_node"]) == len(nodes)
        if load["answered"] >= 2:
            assert all(sum(s["per_node"][i] for s in load["steps"]) > 0 for i in range(len(nodes)))  # round-robin
        cpu = load["cpu_s"]
        for name in [*nodes, "Chroma server", "bench client (this process)", "PostgreSQL backends", "redis-server"]:
            assert name in cpu and cpu[name] >= 0, (name, cpu)
        assert all(_real(cpu[n]) for n in nodes), cpu
    assert two["detail"]["node2_health"]["documents"] == one["docs"]  # node 2 serves the shared manifest

    prop = next(r for r in rows if "finds it" in r["measurement"])
    samples = prop["detail"]["samples"]
    assert len(samples) == 2 and prop["detail"]["n"] == 2
    for s in samples:
        assert s["seen_ms"] >= 0 and s["polls"] >= 1 and s["writer_finds_it"] and s["doc_id"].startswith("upload/")
    assert prop["p50_ms"] >= 0 and prop["detail"]["max_ms"] >= prop["p50_ms"]
    assert any("cannot add CPU" in n for n in notes)
