"""Accounts, roles, conversations, feedback, review, curation and /v1 on a real server with auth on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.api.routes_drafts import DOCX
from app.api.routes_visits import XLSX
from app.core.settings import Settings
from tests.support import PASSWORD, ROOT, cli, shegong_server

ROLES = ("worker", "trainer", "evaluator", "admin")


@dataclass
class Service:
    url: str
    data: Path
    tokens: dict[str, str]

    def as_(self, who: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}

    def call(self, who: str | None, method: str, path: str, **kw: object) -> httpx.Response:
        return httpx.request(method, self.url + path, headers=self.as_(who), timeout=120, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def service(kb_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    data = tmp_path_factory.mktemp("svc") / "data"
    shutil.copytree(kb_settings.data_dir, data)
    for role in ROLES:
        region = ["--region", "宜川路街道"] if role == "worker" else []
        r = cli(data, "user", "add", role, "--role", role, *region, "--password-stdin", stdin=PASSWORD + "\n")
        assert r.returncode == 0, r.stderr
    cli(data, "user", "add", "worker2", "--password-stdin", stdin=PASSWORD + "\n")
    env = {"SHEGONG_DATA_DIR": str(data), "SHEGONG_AUTH": "on", "SHEGONG_RATE_CHAT_PER_MIN": "8",
           "SHEGONG_MAX_UPLOAD_MB": "1"}
    with shegong_server(env) as url:
        tokens = {}
        for name in (*ROLES, "worker2"):
            r = httpx.post(url + "/api/auth/login", json={"username": name, "password": PASSWORD}, timeout=60)
            assert r.status_code == 200, r.text
            tokens[name] = r.json()["token"]
        yield Service(url, data, tokens)


# (method, path, json body, roles allowed). Bodies aim at missing objects or bad input, so an
# allowed call ends in 200/404/422 and changes nothing; what matters is 401/403 versus the rest.
MATRIX: list[tuple[str, str, dict[str, object] | None, set[str]]] = [
    ("GET", "/api/me", None, set(ROLES)),
    ("POST", "/api/search", {"query": "走访", "k": 3}, set(ROLES)),
    ("GET", "/api/conversations", None, set(ROLES)),
    ("GET", "/api/conversations/nope", None, set(ROLES)),
    ("POST", "/api/feedback", {"message_id": 999999, "rating": -1}, set(ROLES)),
    ("GET", "/api/documents", None, {"trainer", "admin"}),
    ("GET", "/api/documents/policies/nope", None, {"trainer", "admin"}),
    ("PATCH", "/api/documents/policies/nope", {"issuer": "x"}, {"trainer", "admin"}),
    ("DELETE", "/api/documents/policies/nope", None, {"trainer", "admin"}),
    ("POST", "/api/documents/versions/999999/restore", None, {"trainer", "admin"}),
    ("GET", "/api/review", None, {"trainer", "admin"}),
    ("POST", "/api/review/999999", {"status": "fixed"}, {"trainer", "admin"}),
    ("POST", "/api/cases", {"question": "q", "answerable": True, "evidence": []}, {"trainer", "admin"}),
    ("GET", "/api/cases", None, {"trainer", "evaluator", "admin"}),
    ("GET", "/api/audit", None, {"trainer", "admin"}),
    ("GET", "/api/users", None, {"admin"}),
    ("POST", "/api/users", {"username": "x", "password": "short"}, {"admin"}),
    ("PATCH", "/api/users/nobody", {"disabled": True}, {"admin"}),
    ("GET", "/api/eval/runs", None, {"evaluator", "admin"}),
    ("GET", "/api/eval/runs/nope/report", None, {"evaluator", "admin"}),
    ("GET", "/v1/models", None, set(ROLES)),
]


@pytest.mark.integration
@pytest.mark.slow
class TestRoles:
    @pytest.mark.parametrize(("method", "path", "body", "allowed"), MATRIX, ids=[f"{m} {p}" for m, p, *_ in MATRIX])
    def test_every_route_checks_the_role(self, service: Service, method: str, path: str,
                                         body: dict[str, object] | None, allowed: set[str]) -> None:
        r = service.call(None, method, path, json=body)
        assert r.status_code == 401, (path, r.text)
        assert r.json()["code"] == "unauthorized" and "登录" in r.json()["detail"]
        assert r.headers["www-authenticate"] == "Bearer"
        for role in ROLES:
            r = service.call(role, method, path, json=body)
            if role in allowed:
                assert r.status_code in (200, 404, 422), (role, path, r.status_code, r.text)
            else:
                assert r.status_code == 403, (role, path, r.status_code, r.text)
                assert r.json()["code"] == "forbidden" and "权限" in r.json()["detail"]

    def test_upload_and_replace_need_a_trainer(self, service: Service) -> None:
        files = {"file": ("a.txt", "社区走访记录示例。".encode(), "text/plain")}
        assert service.call("worker", "POST", "/api/documents", files=files).status_code == 403
        assert service.call("evaluator", "PUT", "/api/documents/x/file", files=files).status_code == 403

    def test_unknown_address_in_chinese(self, service: Service) -> None:
        r = service.call("worker", "GET", "/api/nothing-here")
        assert r.status_code == 404 and r.json() == {"detail": "没有这个地址，请检查网址。", "code": "not_found"}
        r = service.call("worker", "DELETE", "/api/chat")
        assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"

    def test_health_is_public_and_says_auth_is_on(self, service: Service) -> None:
        r = httpx.get(service.url + "/api/health", timeout=30)
        assert r.status_code == 200 and r.json()["auth"] == "on"

    def test_bad_and_revoked_tokens(self, service: Service) -> None:
        r = httpx.get(service.url + "/api/me", headers={"Authorization": "Bearer sg_forged"}, timeout=30)
        assert r.status_code == 401 and "令牌" in r.json()["detail"]
        r = httpx.post(service.url + "/api/auth/login", json={"username": "worker2", "password": PASSWORD})
        token = r.json()["token"]
        me = httpx.get(service.url + "/api/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["username"] == "worker2" and me.json()["permissions"] == ["chat", "feedback", "visit"]
        httpx.post(service.url + "/api/auth/logout", headers={"Authorization": f"Bearer {token}"})
        assert httpx.get(service.url + "/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


@pytest.mark.integration
@pytest.mark.slow
class TestLoginAndLimits:
    def test_failed_logins_lock_the_account_for_a_growing_time(self, service: Service) -> None:
        cli(service.data, "user", "add", "victim", "--password-stdin", stdin=PASSWORD + "\n")
        url = service.url + "/api/auth/login"
        for _ in range(5):
            r = httpx.post(url, json={"username": "victim", "password": "wrong-password"}, timeout=30)
            assert r.status_code == 401 and r.json()["detail"] == "用户名或密码错误。"
        r = httpx.post(url, json={"username": "victim", "password": PASSWORD}, timeout=30)
        assert r.status_code == 429 and "锁定" in r.json()["detail"]
        first_wait = int(r.headers["retry-after"])
        assert 1 <= first_wait <= 30
        # An admin's password reset lifts the lock.
        assert cli(service.data, "user", "reset-password", "victim", "--password-stdin",
                   stdin="another-pass-9\n").returncode == 0
        assert httpx.post(url, json={"username": "victim", "password": "another-pass-9"}).status_code == 200

    def test_chat_rate_limit_for_workers_not_admins(self, service: Service) -> None:
        cli(service.data, "user", "add", "busy", "--password-stdin", stdin=PASSWORD + "\n")
        tok = httpx.post(service.url + "/api/auth/login", json={"username": "busy", "password": PASSWORD}).json()["token"]
        codes = []
        for _ in range(9):
            r = httpx.post(service.url + "/api/chat", json={"question": "走访要带什么？", "save": False},
                           headers={"Authorization": f"Bearer {tok}"}, timeout=60)
            codes.append(r.status_code)
        assert codes[:8] == [200] * 8 and codes[8] == 429
        assert int(r.headers["retry-after"]) >= 1 and "过于频繁" in r.json()["detail"]
        for _ in range(9):
            r = service.call("admin", "POST", "/api/chat", json={"question": "走访要带什么？", "save": False})
            assert r.status_code == 200

    def test_disabled_user_is_locked_out_at_once(self, service: Service) -> None:
        cli(service.data, "user", "add", "leaver", "--password-stdin", stdin=PASSWORD + "\n")
        tok = httpx.post(service.url + "/api/auth/login", json={"username": "leaver", "password": PASSWORD}).json()["token"]
        r = service.call("admin", "PATCH", "/api/users/leaver", json={"disabled": True})
        assert r.status_code == 200 and r.json()["disabled"] is True
        assert httpx.get(service.url + "/api/me", headers={"Authorization": f"Bearer {tok}"}).status_code == 401
        r = httpx.post(service.url + "/api/auth/login", json={"username": "leaver", "password": PASSWORD})
        assert r.status_code == 401 and "停用" in r.json()["detail"]


@pytest.mark.integration
@pytest.mark.slow
class TestConversationsAndReview:
    def test_conversation_feedback_review_and_curated_case(self, service: Service) -> None:
        q = "我的手机号13812345678，身份证310101199001011234，走访独居老人要注意什么？"
        r = service.call("worker", "POST", "/api/chat", json={"question": q})
        assert r.status_code == 200
        body = r.json()
        cid, mid = body["conversation_id"], body["message_id"]
        follow = service.call("worker", "POST", "/api/chat", json={"question": "那多久去一次？", "conversation_id": cid})
        assert follow.json()["conversation_id"] == cid
        convs = service.call("worker", "GET", "/api/conversations").json()["conversations"]
        assert convs[0]["id"] == cid and convs[0]["n"] == 2
        stored = service.call("worker", "GET", f"/api/conversations/{cid}").json()["messages"]
        assert "13812345678" not in stored[0]["question"] and "138****5678" in stored[0]["question"]
        assert "310101199001011234" not in stored[0]["question"]
        # Another worker cannot read it or rate it.
        assert service.call("worker2", "GET", f"/api/conversations/{cid}").status_code == 404
        assert service.call("worker2", "POST", "/api/feedback", json={"message_id": mid, "rating": 1}).status_code == 404
        # 👎 with a comment puts the answer in the trainers' review queue.
        r = service.call("worker", "POST", "/api/feedback", json={"message_id": mid, "rating": -1, "comment": "没讲频次"})
        assert r.status_code == 200
        items = service.call("trainer", "GET", "/api/review").json()["items"]
        item = next(i for i in items if i["message_id"] == mid)
        assert item["reason"] == "点了没用" and item["comment"] == "没讲频次" and item["answer"]
        r = service.call("trainer", "POST", "/api/cases", json={
            "question": "走访独居老人要注意什么？", "evidence": ["亮证"], "answer_keywords": ["亮证"], "message_id": mid})
        assert r.status_code == 200
        assert all(i["message_id"] != mid for i in service.call("trainer", "GET", "/api/review").json()["items"])
        exported = service.call("evaluator", "GET", "/api/cases").text.splitlines()
        case = json.loads(exported[-1])
        assert case["question"] == "走访独居老人要注意什么？" and case["evidence"] == ["亮证"] and "curated" in case["tags"]
        # An evaluator exports the curated cases into a test-set file (twice: no duplicates).
        target = service.data.parent / "curated.jsonl"
        for _ in range(2):
            r = cli(service.data, "eval", "export", "--out", str(target))
            assert r.returncode == 0, r.stderr
        lines = [json.loads(x) for x in target.read_text(encoding="utf-8").splitlines()]
        assert [c["id"] for c in lines] == [case["id"]] and lines[0]["answerable"] is True

    def test_refusals_go_to_review(self, service: Service) -> None:
        r = service.call("worker", "POST", "/api/chat", json={"question": "北京市养犬登记费是多少钱？"})
        assert r.json()["refused"] is True
        items = service.call("admin", "GET", "/api/review").json()["items"]
        assert any(i["message_id"] == r.json()["message_id"] and i["reason"] == "拒答" for i in items)
        assert service.call("admin", "POST", f"/api/review/{r.json()['message_id']}", json={"status": "dismissed"}).status_code == 200
        mid = str(r.json()["message_id"])
        entries = service.call("admin", "GET", f"/api/audit?target={mid}").json()["entries"]
        assert [(e["actor"], e["action"]) for e in entries] == [("admin", "review")]

    def test_worker_region_ranks_first(self, service: Service) -> None:
        me = service.call("worker", "GET", "/api/me").json()
        assert me["region"] == "宜川路街道"


@pytest.mark.integration
@pytest.mark.slow
class TestCuration:
    def test_upload_edit_replace_delete_restore_with_audit(self, service: Service) -> None:
        text = "# 测试社区助浴服务说明\n\n助浴服务每周二、周四上午开放，需提前三天在居委会登记预约。示例内容。\n"
        r = service.call("trainer", "POST", "/api/documents", files={"file": ("助浴服务.md", text.encode(), "text/markdown")},
                         data={"doc_type": "手册", "region": "普陀区", "issuer": "测试居委会"})
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["status"] == "added" and out["chunks"] >= 1
        doc_id = out["doc_id"]
        assert doc_id == "upload/助浴服务.md"

        def top_doc(q: str) -> str:
            return service.call("trainer", "POST", "/api/search", json={"query": q, "k": 1}).json()["hits"][0]["doc_id"]

        assert top_doc("助浴服务 提前几天 登记预约") == doc_id
        detail = service.call("trainer", "GET", f"/api/documents/{doc_id}").json()
        assert detail["meta"]["issuer"] == "测试居委会" and detail["meta"]["region"] == "普陀区"
        assert "周二" in "".join(c["text"] for c in detail["chunks"])
        # Duplicate upload is refused; edit metadata; bad date is a clear 422.
        again = service.call("trainer", "POST", "/api/documents", files={"file": ("助浴服务.md", text.encode())})
        assert again.status_code == 422 and "替换" in again.json()["detail"]
        bad = service.call("trainer", "PATCH", f"/api/documents/{doc_id}", json={"effective_to": "2026-02-30"})
        assert bad.status_code == 422 and "YYYY-MM-DD" in bad.json()["detail"]
        ok = service.call("trainer", "PATCH", f"/api/documents/{doc_id}", json={"region": "宜川路街道"})
        assert ok.status_code == 200 and ok.json()["status"] == "updated"
        assert service.call("trainer", "GET", f"/api/documents/{doc_id}").json()["meta"]["region"] == "宜川路街道"
        # Replace: the new text is found, the old is kept as a version.
        new_text = text.replace("周二、周四上午", "每周三下午")
        r = service.call("admin", "PUT", f"/api/documents/{doc_id}/file", files={"file": ("助浴服务v2.md", new_text.encode())})
        assert r.status_code == 200 and r.json()["status"] == "updated", r.text
        detail = service.call("trainer", "GET", f"/api/documents/{doc_id}").json()
        assert "每周三下午" in "".join(c["text"] for c in detail["chunks"])
        assert detail["meta"]["region"] == "宜川路街道"  # the edit survives the replacement
        assert [v["reason"] for v in detail["versions"]] == ["replaced"]
        # Delete, then restore the deleted file.
        r = service.call("trainer", "DELETE", f"/api/documents/{doc_id}")
        assert r.status_code == 200
        kept = r.json()["kept_version"]
        assert service.call("trainer", "GET", f"/api/documents/{doc_id}").status_code == 404
        listed = service.call("trainer", "GET", "/api/documents").json()["documents"]
        assert any(d["doc_id"] == doc_id and d["deleted"] for d in listed)
        r = service.call("trainer", "POST", f"/api/documents/versions/{kept}/restore")
        assert r.status_code == 200 and r.json()["status"] == "added", r.text
        assert top_doc("助浴服务 每周三下午 登记预约") == doc_id
        actions = [(e["actor"], e["action"]) for e in service.call("trainer", "GET", f"/api/audit?target={doc_id}")
                   .json()["entries"]]
        assert actions == [("trainer", "restore"), ("trainer", "delete"), ("admin", "replace"), ("trainer", "edit"),
                           ("trainer", "upload")]

    def test_bad_uploads_say_what_is_wrong_and_lose_nothing(self, service: Service) -> None:
        before = service.call("trainer", "GET", "/api/documents").json()["documents"]
        cases = [
            (("坏文件.pdf", b"%PDF-1.7 this is not really a pdf", "application/pdf"), 422, None),
            (("空.txt", b"", "text/plain"), 422, "空"),
            (("脚本.exe", b"MZ....", "application/octet-stream"), 422, "不支持"),
            (("大.txt", "走访".encode() * 400_000, "text/plain"), 413, "过大"),
        ]
        for file, status, words in cases:
            r = service.call("trainer", "POST", "/api/documents", files={"file": file})
            body = r.json()
            if r.status_code == 200:  # parsing failures are reported per file, like the CLI
                assert body["status"] == "failed" and body["error"], body
            else:
                assert r.status_code == status, (file[0], r.status_code, body)
                assert words is None or words in body["detail"], body
        after = service.call("trainer", "GET", "/api/documents").json()["documents"]
        assert [d["doc_id"] for d in after] == [d["doc_id"] for d in before]
        assert not list((service.data / "library").rglob("坏文件.pdf"))


@pytest.mark.integration
@pytest.mark.slow
class TestOpenAICompatible:
    def test_completion_with_sources(self, service: Service) -> None:
        body = {"model": "shegong", "messages": [{"role": "user", "content": "宜川路街道考取中级社工证奖励多少？"}]}
        r = service.call("worker", "POST", "/v1/chat/completions", json=body)
        assert r.status_code == 200
        out = r.json()
        content = out["choices"][0]["message"]["content"]
        assert out["object"] == "chat.completion" and "2000元" in content and "来源：" in content and "[1]" in content
        assert out["shegong"]["citations"]

    def test_streaming(self, service: Service) -> None:
        body = {"messages": [{"role": "user", "content": "宜川路街道考取中级社工证奖励多少？"}], "stream": True}
        with httpx.stream("POST", service.url + "/v1/chat/completions", json=body, headers=service.as_("worker"),
                          timeout=60) as r:
            lines = [ln for ln in r.iter_lines() if ln.startswith("data: ")]
        assert lines[-1] == "data: [DONE]"
        chunks = [json.loads(ln[6:]) for ln in lines[:-1]]
        text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
        assert chunks[0]["object"] == "chat.completion.chunk" and "2000元" in text and "来源：" in text
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop"

    def test_last_message_must_be_a_question(self, service: Service) -> None:
        r = service.call("worker", "POST", "/v1/chat/completions", json={"messages": [{"role": "assistant", "content": "hi"}]})
        assert r.status_code == 422 and "user" in r.json()["detail"]


@pytest.mark.integration
@pytest.mark.slow
class TestOneChatService:
    """/api/chat, /api/chat/stream and /v1/chat/completions go through one chat service: the same
    rate limit, one saved exchange each, and errors as statuses before any stream begins."""

    def test_every_entry_point_saves_once_and_counts_against_one_limit(self, service: Service) -> None:
        cli(service.data, "user", "add", "counter", "--password-stdin", stdin=PASSWORD + "\n")
        tok = httpx.post(service.url + "/api/auth/login", json={"username": "counter", "password": PASSWORD}).json()["token"]
        auth = {"Authorization": f"Bearer {tok}"}
        q = "走访要带什么？"
        oa = {"messages": [{"role": "user", "content": q}]}
        for _ in range(2):
            assert httpx.post(service.url + "/api/chat", json={"question": q}, headers=auth, timeout=60).status_code == 200
            with httpx.stream("POST", service.url + "/api/chat/stream", json={"question": q}, headers=auth, timeout=60) as r:
                assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
                events = [json.loads(ln[6:]) for ln in r.iter_lines() if ln.startswith("data: ")]
            assert events[-1]["type"] == "done" and events[-1]["answer"]["message_id"]
            assert httpx.post(service.url + "/v1/chat/completions", json=oa, headers=auth, timeout=60).status_code == 200
            with httpx.stream("POST", service.url + "/v1/chat/completions", json={**oa, "stream": True}, headers=auth,
                              timeout=60) as r:
                assert r.status_code == 200 and [ln for ln in r.iter_lines() if ln.startswith("data: ")][-1] == "data: [DONE]"
        convs = httpx.get(service.url + "/api/conversations", headers=auth, timeout=60).json()["conversations"]
        assert len(convs) == 8 and all(c["n"] == 1 for c in convs)
        # the ninth question in the minute is refused by every entry point, the stream before it starts
        for method_path, body in (("/api/chat/stream", {"question": q}), ("/api/chat", {"question": q}),
                                  ("/v1/chat/completions", {**oa, "stream": True})):
            r = httpx.post(service.url + method_path, json=body, headers=auth, timeout=60)
            assert r.status_code == 429 and r.headers["content-type"].startswith("application/json"), method_path
            assert "过于频繁" in r.json()["detail"]

    def test_another_users_conversation_is_404_not_a_stream(self, service: Service) -> None:
        r = service.call("worker", "POST", "/api/chat", json={"question": "走访要带什么？"})
        cid = r.json()["conversation_id"]
        r = service.call("worker2", "POST", "/api/chat/stream", json={"question": "还有呢？", "conversation_id": cid})
        assert r.status_code == 404 and r.json()["code"] == "not_found"
        r = service.call("worker", "POST", "/api/chat/stream", json={"question": "还有呢？", "conversation_id": cid})
        assert r.status_code == 200 and '"type": "done"' in r.text

    def test_every_json_route_documents_its_reply(self, service: Service) -> None:
        spec = httpx.get(service.url + "/api/openapi.json", timeout=60).json()
        undocumented = []
        for path, ops in spec["paths"].items():
            for method, op in ops.items():
                content = op.get("responses", {}).get("200", {}).get("content", {})
                schema = content.get("application/json", {}).get("schema")
                if {"text/event-stream", "text/html", "text/plain", XLSX, DOCX} & set(content):
                    continue
                if not schema or not ("$ref" in schema or schema.get("properties")):
                    undocumented.append(f"{method.upper()} {path}")
        assert not undocumented, undocumented
        answer = spec["components"]["schemas"]["AnswerOut"]["properties"]
        assert {"answer", "refused", "citations", "message_id"} <= set(answer)


@pytest.mark.integration
class TestStartUpSafety:
    def test_network_bind_needs_users_and_auth(self, tmp_path: Path) -> None:
        data = tmp_path / "data"
        r = cli(data, "serve", "--host", "0.0.0.0", "--port", "1")
        assert r.returncode != 0 and "shegong user add" in r.stderr
        env_off = subprocess.run([sys.executable, "-m", "app.cli", "serve", "--host", "0.0.0.0"], cwd=ROOT,
                                 env={**os.environ, "SHEGONG_DATA_DIR": str(data), "SHEGONG_AUTH": "off"},
                                 capture_output=True, text=True, timeout=60)
        assert env_off.returncode != 0 and "SHEGONG_AUTH=off" in env_off.stderr and "127.0.0.1" in env_off.stderr

    def test_check_bind_with_users(self) -> None:
        from app.core.errors import ConfigError

        s = Settings(host="0.0.0.0", auth="on")
        s.check_bind(users=1)  # allowed: accounts exist and auth is on
        with pytest.raises(ConfigError):
            s.check_bind(users=0)
        Settings(host="127.0.0.1", auth="off").check_bind(users=0)
