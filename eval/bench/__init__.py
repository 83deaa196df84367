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
* the multi-node deployment (``scale``, eval/bench/scale.py): at ``--scale-sizes`` (10k and 100k
  chunks of reused vectors) search and chat with the vectors on a ``chroma run`` server beside the
  same store embedded; at the largest, one and two ``shegong serve`` nodes over a PostgreSQL
  manifest, the Chroma server and Redis under stepped closed-loop load (most req/s at p95 < 1 s,
  CPU seconds per process), and how soon node 2 finds a document uploaded through node 1.
* the naive reference (the LangChain tutorial default: RecursiveCharacterTextSplitter 1000/200 over
  the raw text, dense search only in Chroma, the same embedder), measured in process in a child:
  embed the question + Chroma query k=10. Its index is embedded once and kept in the bench cache;
  by default only for corpora of up to ``--naive-max-chunks`` chunks.

Run it with nothing else busy: this machine has two cores. ``--quick`` runs the small corpora
only; ``--skip`` leaves parts out; ``--queries`` sets N.
"""
