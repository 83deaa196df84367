"""deploy/: the compose file, the proxy and gate configs and the systemd units, checked for what can
be checked without an image registry: they parse, only the proxy publishes ports, no secret is
written in them, Chroma's telemetry is off, and every setting they pass is one shegong reads."""

from __future__ import annotations

import configparser
import itertools
import re
from pathlib import Path

import yaml

from app.core.settings import Settings
from tests.support import ROOT

DEPLOY = ROOT / "deploy"
SECRET_NAMES = ("PASSWORD", "TOKEN", "API_KEY")


def _compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def test_the_compose_file_parses_and_says_it_is_untested() -> None:
    c = _compose()
    assert set(c["services"]) == {"postgres", "redis", "chroma", "chroma-gate", "api", "proxy"}
    assert "UNTESTED" in (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    for name, svc in c["services"].items():
        assert "image" in svc or "build" in svc, name
        assert svc.get("networks") == ["backend"], name
        for dep in svc.get("depends_on", []):
            assert dep in c["services"], (name, dep)
        for vol in svc.get("volumes", []):
            source = vol.split(":", 1)[0]
            assert source in c["volumes"] or (DEPLOY / source).exists(), (name, vol)


def test_only_the_proxy_is_reachable_from_outside() -> None:
    published = {name for name, svc in _compose()["services"].items() if svc.get("ports")}
    assert published == {"proxy"}


def test_no_secret_is_written_in_the_files() -> None:
    c = _compose()
    for name, svc in c["services"].items():
        for key, value in (svc.get("environment") or {}).items():
            if any(s in key for s in SECRET_NAMES):
                assert str(value).startswith("${"), (name, key)  # from deploy/secrets.env
        command = svc.get("command", [])
        for flag, value in itertools.pairwise(command):
            if flag == "--requirepass":
                assert value.startswith("${"), name
    for path in [*DEPLOY.glob("*"), *(DEPLOY / "systemd").glob("*")]:
        if path.is_file() and path.name != "secrets.env.example":
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"(?i)(password|token|api_key)\s*[=:]\s*['\"]?[A-Za-z0-9]{8,}", text), path
    example = (DEPLOY / "secrets.env.example").read_text(encoding="utf-8")
    assert all(line.endswith("=") for line in example.splitlines()
               if any(s in line for s in SECRET_NAMES) and not line.startswith("#"))
    assert "deploy/secrets.env" in (ROOT / ".gitignore").read_text(encoding="utf-8")


def test_telemetry_is_off_and_chroma_sits_behind_its_token_gate() -> None:
    c = _compose()
    assert c["services"]["chroma"]["environment"]["ANONYMIZED_TELEMETRY"] == "False"
    api = c["services"]["api"]["environment"]
    assert api["SHEGONG_CHROMA_URL"].startswith("http://chroma-gate:")
    gate = (DEPLOY / "Caddyfile.chroma").read_text(encoding="utf-8")
    assert 'header Authorization "Bearer {$CHROMA_TOKEN}"' in gate and "respond" in gate
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(DEPLOY / "systemd" / "shegong-chroma.service")
    assert unit["Service"]["Environment"] == "ANONYMIZED_TELEMETRY=False"
    assert "--host 127.0.0.1" in unit["Service"]["ExecStart"]


def test_every_setting_passed_is_one_shegong_reads() -> None:
    known = {f"SHEGONG_{name.upper()}" for name in Settings.model_fields} | {"SHEGONG_MODELS_DIR"}
    passed = set(_compose()["services"]["api"]["environment"])
    unit = (DEPLOY / "systemd" / "shegong-api@.service").read_text(encoding="utf-8")
    passed |= set(re.findall(r"SHEGONG_[A-Z_]+", unit)) - {"SHEGONG_"}
    passed |= set(re.findall(r"SHEGONG_[A-Z_]+", (DEPLOY / "README.md").read_text(encoding="utf-8")))
    assert passed <= known, sorted(passed - known)


def test_the_systemd_units_parse_and_read_secrets_from_a_file() -> None:
    for path in (DEPLOY / "systemd").glob("*.service"):
        unit = configparser.ConfigParser(strict=False, interpolation=None)
        unit.read(path)
        assert {"Unit", "Service", "Install"} <= set(unit.sections()), path
        assert unit["Service"]["ExecStart"].startswith("/opt/shegong/.venv/bin/"), path
        assert unit["Service"].get("User") == "shegong", path
    api = configparser.ConfigParser(strict=False, interpolation=None)
    api.read(DEPLOY / "systemd" / "shegong-api@.service")
    assert api["Service"]["EnvironmentFile"] == "/etc/shegong/shegong.env"


def test_the_scripts_refuse_wrong_use_in_chinese(tmp_path: Path) -> None:
    import subprocess

    for script in ("backup.sh", "restore.sh"):
        r = subprocess.run([str(DEPLOY / script)], capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and "用法" in r.stderr
