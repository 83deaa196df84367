"""Where the bench finds its inputs and keeps its cache, and the fixed choices every part shares."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SHARED = Path(os.environ.get("SHEGONG_SHARED_DIR", ROOT.parent / "shared"))
EXTERNAL = SHARED / "external"
DATA_DIR = Path(os.environ.get("SHEGONG_DATA_DIR") or ROOT / "data").resolve()
# Converted models are the same for every data dir: children share one copy instead of converting
# 470 MB into each fresh data dir.
MODELS_DIR = Path(os.environ.get("SHEGONG_MODELS_DIR") or DATA_DIR / "models")
CACHE_DIR = DATA_DIR / "bench-cache"
# The sets, in the order corpora are filled from them.
SET_ORDER = ("cail2019_rc", "drcd", "cmrc2018", "ncp_policy")
PARTS = ("ingest", "serve", "chat", "reuse", "naive", "visits", "scale")
NAIVE_SPLIT = (1000, 200)  # the LangChain tutorial's RecursiveCharacterTextSplitter chunk_size/overlap
