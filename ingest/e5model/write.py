"""The output directory: sentence-transformers files, the marker that says a conversion is complete,
and moving a finished conversion into place (clearing leftovers of killed ones).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from app.core.errors import ModelFileError
from ingest.e5model.dequantise import state_dict
from ingest.e5model.parse import KNOWN_SHA256, E5File
from ingest.e5model.tokenizer import MAX_SEQ_LENGTH, build_tokenizer, tokenizer_files

logger = logging.getLogger(__name__)

CONVERTER_VERSION = 1
"""Bump when the output of :func:`~ingest.e5model.convert.convert` changes; older conversions are then redone."""

SOURCE_MARKER = "shegong_source.json"
_STALE_SECONDS = 3600.0
_CONVERTER_NAME = "ingest.e5model.convert"  # the entry point, as markers have always named it

_OUTPUT_FILES = (
    "model.safetensors",
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
    "2_Normalize/config.json",
)


def _bert_config(f: E5File) -> dict[str, Any]:
    """A ``BertConfig`` matching the weights (exact GELU, eps and sizes from the file)."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": f.vocab_rows,
        "hidden_size": f.hidden,
        "num_hidden_layers": f.layers,
        "num_attention_heads": f.heads,
        "intermediate_size": f.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": f.max_positions,
        "type_vocab_size": f.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": f.eps,
        "pad_token_id": f.pad,
        "bos_token_id": f.bos,
        "eos_token_id": f.eos,
        "position_embedding_type": "absolute",
        "use_cache": False,
    }


def _st_files(f: E5File) -> dict[str, Any]:
    """sentence-transformers module files: Transformer -> mean Pooling -> Normalize."""
    return {
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
        # BertModel's pooler is not in the file and mean pooling does not use it: don't build it.
        "sentence_bert_config.json": {
            "max_seq_length": min(MAX_SEQ_LENGTH, f.max_positions),
            "do_lower_case": False,
            "model_args": {"add_pooling_layer": False},
        },
        "config_sentence_transformers.json": {
            "prompts": {},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
        "1_Pooling/config.json": {
            "word_embedding_dimension": f.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
        "2_Normalize/config.json": {},
    }


def _write_json(path: Path, obj: Any) -> None:
    """Write pretty, UTF-8 JSON, creating parent directories."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def write_model(f: E5File, work: Path, sha: str) -> None:
    """Dequantise and write every output file into ``work`` (the marker is written last)."""
    from safetensors.numpy import save_file

    t0 = time.monotonic()
    state = state_dict(f)
    logger.info("dequantised %d tensors in %.1f s", len(state), time.monotonic() - t0)
    save_file(state, str(work / "model.safetensors"), metadata={"format": "pt", "source_sha256": sha})
    del state
    _write_json(work / "config.json", _bert_config(f))
    build_tokenizer(f).save(str(work / "tokenizer.json"))
    for name, obj in {**tokenizer_files(f), **_st_files(f)}.items():
        _write_json(work / name, obj)
    marker = {
        "source_sha256": sha,
        "source_name": KNOWN_SHA256.get(sha, "unknown"),
        "source_bytes": len(f.data),
        "converter": _CONVERTER_NAME,
        "converter_version": CONVERTER_VERSION,
        "query_prefix": "query: ",
        "passage_prefix": "passage: ",
        "files": {name: (work / name).stat().st_size for name in _OUTPUT_FILES},
    }
    _write_json(work / SOURCE_MARKER, marker)
    _finish_files(work, [*_OUTPUT_FILES, SOURCE_MARKER])


def _finish_files(work: Path, names: Iterable[str]) -> None:
    """Flush the written files to disk, so a completed rename never exposes unwritten data.

    ``safetensors`` creates its file private (0600); it gets the umask-derived mode of the
    JSON files next to it, so a shared model directory stays readable as configured.
    """
    mode = (work / "config.json").stat().st_mode & 0o777
    (work / "model.safetensors").chmod(mode)
    for name in names:
        _fsync(work / name)


def _fsync(path: Path) -> None:
    """Flush a file to disk so a completed rename never exposes unwritten data."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_marker(out_dir: Path) -> dict[str, Any] | None:
    """The conversion marker of ``out_dir``, or None if absent or unreadable."""
    try:
        obj = json.loads((out_dir / SOURCE_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def is_complete(out_dir: Path, sha256: str) -> bool:
    """True if ``out_dir`` holds a finished conversion of ``sha256`` by this converter version."""
    marker = read_marker(out_dir)
    if not marker or marker.get("source_sha256") != sha256:
        return False
    if marker.get("converter_version") != CONVERTER_VERSION:
        return False
    files = marker.get("files")
    if not isinstance(files, dict) or set(files) != set(_OUTPUT_FILES):
        return False
    for name, size in files.items():
        try:
            if (out_dir / name).stat().st_size != size:
                return False
        except OSError:
            return False
    return True


def remove_stale(parent: Path, name: str) -> None:
    """Delete leftovers of killed conversions (partial/old directories older than an hour)."""
    now = time.time()
    for prefix in (f".{name}.partial-", f".{name}.old-"):
        for path in parent.glob(prefix + "*"):
            try:
                if path.is_dir() and now - path.stat().st_mtime > _STALE_SECONDS:
                    logger.info("removing stale conversion leftover %s", path)
                    shutil.rmtree(path, ignore_errors=True)
            except OSError:
                continue


def replaceable(out_dir: Path) -> bool:
    """True if ``out_dir`` is absent, empty or an earlier conversion we may replace."""
    if not out_dir.exists():
        return True
    if not out_dir.is_dir():
        return False
    return read_marker(out_dir) is not None or not any(out_dir.iterdir())


def install(work: Path, out_dir: Path, sha: str, *, force: bool) -> None:
    """Move the finished ``work`` directory to ``out_dir``, replacing an older conversion."""
    if out_dir.exists():
        if not force and is_complete(out_dir, sha):
            logger.info("another process finished %s first; keeping it", out_dir)
            return
        if not replaceable(out_dir):
            raise ModelFileError(f"输出目录已存在且不是本工具的转换结果, 拒绝覆盖: {out_dir}")
        old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
        os.replace(out_dir, old / "previous")
        os.replace(work, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(work, out_dir)
