"""Turn the file's Q4_0 and f32 tensors into float32 arrays under ``BertModel`` parameter names."""

from __future__ import annotations

import numpy as np

from ingest.e5model.parse import DTYPE_F32, LAYER_TENSORS, Q4_BLOCK, QK, Corrupt, E5File, expected_shapes


def _load_tensor(f: E5File, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Return a tensor as float32 with ``shape``, dequantising Q4_0 blocks if needed."""
    t = f.tensors[name]
    if t.dtype == DTYPE_F32:
        values = np.frombuffer(f.data, dtype="<f4", count=t.count, offset=t.offset)
        return values.astype(np.float32).reshape(shape)
    blocks = np.frombuffer(f.data, dtype=Q4_BLOCK, count=t.count // QK, offset=t.offset)
    out = np.empty((blocks.shape[0], QK), dtype=np.float32)
    step = 1 << 18  # blocks per slice: bounds the temporaries to a few tens of MB
    for start in range(0, blocks.shape[0], step):
        part = blocks[start : start + step]
        scale = part["d"].astype(np.float32)[:, None]
        qs = part["qs"]
        dst = out[start : start + step]
        dst[:, : QK // 2] = (qs & 0x0F).astype(np.float32) - 8.0
        dst[:, QK // 2 :] = (qs >> 4).astype(np.float32) - 8.0
        dst *= scale
    return out.reshape(shape)


def state_dict(f: E5File) -> dict[str, np.ndarray]:
    """All weights under the parameter names of ``transformers.BertModel`` (no pooler)."""
    shapes = expected_shapes(f)
    names = {
        "emb.word": "embeddings.word_embeddings.weight",
        "emb.pos": "embeddings.position_embeddings.weight",
        "emb.type": "embeddings.token_type_embeddings.weight",
        "emb.ln.w": "embeddings.LayerNorm.weight",
        "emb.ln.b": "embeddings.LayerNorm.bias",
    }
    for layer in range(f.layers):
        for suffix, target in LAYER_TENSORS.items():
            names[f"l{layer}.{suffix}"] = f"encoder.layer.{layer}.{target}"
    state: dict[str, np.ndarray] = {}
    for src_name, dst_name in names.items():
        arr = _load_tensor(f, src_name, shapes[src_name])
        if not np.all(np.isfinite(arr)):
            raise Corrupt(f"张量 {src_name} 含非有限值")
        state[dst_name] = arr
    return state
