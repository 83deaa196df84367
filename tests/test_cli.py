"""The `shegong` command, invoked as a user would (click's CliRunner, real data dir)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import main

TEXT = "走访独居老人时，要查看燃气和电线是否安全。发现隐患要及时上报。"


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    data = tmp_path / "data"

    def invoke(*args: str, data_dir: Path = data):  # type: ignore[no-untyped-def]
        return runner.invoke(main, ["--data-dir", str(data_dir), *args], catch_exceptions=False)

    return invoke


def test_ingest_json_chunks_docs_remove(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "kb"
    src.mkdir()
    (src / "visit.txt").write_text(TEXT, encoding="utf-8")
    (src / "broken.pdf").write_bytes(b"%PDF-1.4 nothing")
    res = run("ingest", str(src), "--json", "--doc-type", "手册", "--region", "普陀区", "--issuer", "示例街道")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert set(out) >= {"added", "updated", "unchanged", "removed", "failed", "files"}
    assert out["added"] == 1 and out["failed"][0]["path"].endswith("broken.pdf")
    visit = next(f for f in out["files"] if f["doc_id"] == "visit.txt")
    assert visit["status"] == "added" and visit["chunks"] == 1 and "cleaned" in visit and "pii_masked" in visit

    res = run("chunks", "--json")
    rows = [json.loads(line) for line in res.output.splitlines()]
    assert len(rows) == 1
    assert set(rows[0]) == {"chunk_id", "doc_id", "title", "text", "metadata"}
    assert rows[0]["text"] == TEXT and rows[0]["metadata"]["doc_type"] == "手册"
    assert rows[0]["metadata"]["region"] == "普陀区"

    res = run("docs")
    assert "visit.txt" in res.output and "示例街道" in res.output and "共 1 个文档" in res.output

    again = json.loads(run("ingest", str(src), "--json").output)
    assert (again["added"], again["updated"]) == (0, 1)  # CLI metadata is part of the document

    assert run("remove", "visit.txt").exit_code == 0
    res = run("remove", "visit.txt")
    assert res.exit_code == 1 and "not_found" in res.output
    assert run("chunks", "--json").output.strip() == ""


def test_all_failed_exits_nonzero(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "empty.txt").write_bytes(b"")
    res = run("ingest", str(tmp_path / "empty.txt"))
    assert res.exit_code == 1 and "文件是空的" in res.output


def test_bad_metadata_flag(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a.txt").write_text(TEXT, encoding="utf-8")
    res = run("ingest", str(tmp_path / "a.txt"), "--published", "2024-02-30")
    assert res.exit_code == 1 and "2024-02-30" in res.output


def test_backup_and_restore_elsewhere(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a.txt").write_text(TEXT, encoding="utf-8")
    assert run("ingest", str(tmp_path / "a.txt")).exit_code == 0
    res = run("backup", str(tmp_path / "bk"))
    assert res.exit_code == 0 and "1 个文档" in res.output
    assert run("backup", str(tmp_path / "bk")).exit_code == 1  # never overwrites a backup
    other = tmp_path / "other-machine"
    res = run("restore", str(tmp_path / "bk"), data_dir=other)
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in run("chunks", "--json", data_dir=other).output.splitlines()]
    assert [r["text"] for r in rows] == [TEXT]
    doctor = json.loads(run("doctor", "--json", data_dir=other).output)
    assert doctor["store"]["matches_manifest"] and doctor["store"]["chunks"] == 1
    # restoring over existing data keeps the old data aside
    res = run("restore", str(tmp_path / "bk"), data_dir=other)
    assert "原数据保留在" in res.output


def test_backup_and_restore_keep_the_records_and_the_visit_module(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a.txt").write_text(TEXT, encoding="utf-8")
    assert run("ingest", str(tmp_path / "a.txt")).exit_code == 0
    assert run("region", "add", "备份测试居委（虚构）", "--parent", "宜川路街道").exit_code == 0
    assert run("backup", str(tmp_path / "bk")).exit_code == 0
    other = tmp_path / "restored"
    assert run("restore", str(tmp_path / "bk"), data_dir=other).exit_code == 0
    res = run("region", "list", data_dir=other)
    assert "备份测试居委（虚构）" in res.output, res.output


def test_doctor_json(run) -> None:  # type: ignore[no-untyped-def]
    res = run("doctor", "--json")
    report = json.loads(res.output)
    assert report["ok"] is True and res.exit_code == 0
    assert report["embedder"]["backend"] == "sentence-transformers" and report["embedder"]["dim"] == 384
    assert report["embedder"]["model"]
    assert report["llm"] == {"ok": True, "configured": False, "mode": "extractive"}


def test_doctor_reports_unreachable_llm(run, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SHEGONG_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    res = run("doctor", "--json")
    report = json.loads(res.output)
    assert res.exit_code == 1 and report["ok"] is False
    assert report["llm"]["configured"] and "fix" in report["llm"]
