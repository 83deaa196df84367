"""The UI's handlers: chat, conversations and feedback; documents; the review queue; evaluation
runs; the audit log. Each finds the shared state on the FastAPI app at call time and checks the
user's role itself, not only by hiding tabs."""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import gradio as gr
from fastapi import FastAPI

from app.api.deps import SESSION_COOKIE, limit_upload, user_for
from app.core.errors import ShegongError
from app.core.settings import Settings
from app.service.accounts import ROLE_NAMES, User
from app.service.chat import ChatRequest
from app.service.state import AppState
from app.ui.render import META_FIELDS, outcome_md, render_answer, score_text, table_data


class UI:
    """Builds the Blocks; handlers find the shared state on the FastAPI app at call time."""

    def __init__(self, app: FastAPI, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    @property
    def state(self) -> AppState:
        st: AppState = self.app.state.shegong
        return st

    def user(self, request: gr.Request | None, permission: str = "chat") -> User:
        token = request.cookies.get(SESSION_COOKIE) if request is not None else None
        try:
            user = user_for(self.state, token)
            user.require(permission)
        except ShegongError as exc:
            raise gr.Error(str(exc)) from exc
        return user

    @staticmethod
    def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ShegongError as exc:
            raise gr.Error(str(exc)) from exc

    # -- chat -----------------------------------------------------------------------------------
    def ask(
        self, question: str, chat: list[dict[str, Any]], conv_id: str, msg_ids: list[int], region: str,
        request: gr.Request,
    ) -> Iterator[tuple[Any, ...]]:
        user = self.user(request)
        turn = self._call(self.state.chat.open, user, ChatRequest(
            question or "", conversation_id=conv_id or None, prefer_region=region or None))
        chat = [*chat, {"role": "user", "content": turn.question}, {"role": "assistant", "content": "正在查找知识库…"}]
        yield "", chat, conv_id, msg_ids
        text = ""
        for ev in turn.events():
            if ev["type"] in ("delta", "reset"):
                text = ev["text"] if ev["type"] == "reset" else text + ev["text"]
                chat[-1] = {"role": "assistant", "content": html.escape(text)}
                yield "", chat, conv_id, msg_ids
            elif ev["type"] == "done":
                ans = ev["answer"]
                conv_id, msg_ids = ans["conversation_id"], [*msg_ids, ans["message_id"]]
                chat[-1] = {"role": "assistant", "content": render_answer(ans)}
                yield "", chat, conv_id, msg_ids

    def new_chat(self) -> tuple[Any, ...]:
        return [], "", [], gr.update(value=None)

    def conversations(self, request: gr.Request) -> Any:
        user = self.user(request)
        convs = self.state.conversations.recent(user)
        return gr.update(choices=[(f"{c['title']}（{c['updated_at'][:10]}）", c["id"]) for c in convs], value=None)

    def open_conversation(self, conv_id: str | None, request: gr.Request) -> tuple[Any, ...]:
        if not conv_id:
            return gr.update(), gr.update(), gr.update()
        user = self.user(request)
        msgs = self._call(self.state.conversations.messages, user, conv_id)
        chat: list[dict[str, Any]] = []
        for m in msgs:
            chat.append({"role": "user", "content": m.question})
            chat.append({"role": "assistant", "content": render_answer(m.to_dict())})
        return chat, conv_id, [m.id for m in msgs]

    def like(self, msg_ids: list[int], data: gr.LikeData, request: gr.Request) -> tuple[Any, ...]:
        user = self.user(request, "feedback")
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        answer_no = int(index) // 2
        if answer_no >= len(msg_ids):
            raise gr.Error("这条回答还没有保存，无法评价。")
        mid = msg_ids[answer_no]
        rating = 1 if data.liked else -1
        self._call(self.state.conversations.feedback, user, mid, rating)
        note = "已记录：有用 👍" if rating > 0 else "已记录：没用 👎。可以在下面写几句原因，帮助培训员改进。"
        return mid, gr.update(visible=rating < 0), gr.update(visible=rating < 0), note

    def comment(self, mid: int | None, text: str, request: gr.Request) -> tuple[Any, ...]:
        user = self.user(request, "feedback")
        if not mid:
            raise gr.Error("请先对一条回答点 👎。")
        self._call(self.state.conversations.feedback, user, int(mid), -1, text or "")
        return gr.update(value="", visible=False), gr.update(visible=False), "已收到您的意见，谢谢。"

    # -- start-up: who is this, what may they see ----------------------------------------------
    def on_load(self, request: gr.Request) -> tuple[Any, ...]:
        user = self.user(request)
        role = ROLE_NAMES[user.role]
        who = f"{html.escape(user.username)}（{role}）"
        if user.can("visit"):
            who += ' · <a href="/visits">走访</a>'

        if self.settings.auth == "off":
            banner = ('<div class="sg-banner">⚠️ 本机试用模式：未开启登录（SHEGONG_AUTH=off），只能在本机访问。'
                      '正式使用请创建账号并开启登录。</div>')
            head = f'<div id="sg-head"><h1>社工AI助手</h1><span>{who}</span></div>{banner}'
        else:
            head = f'<div id="sg-head"><h1>社工AI助手</h1><span>{who} · <a href="/logout">退出</a></span></div>'
        convs = self.conversations(request)
        return (head, gr.update(visible=user.can("curate")), gr.update(visible=user.can("review")),
                gr.update(visible=user.can("evaluate")), gr.update(visible=user.can("audit")), convs,
                gr.update(value=user.region or None))

    # -- trainer: documents ---------------------------------------------------------------------
    def doc_list(self, request: gr.Request) -> tuple[Any, ...]:
        self.user(request, "curate")
        docs = self.state.curator.documents()
        for d in docs:
            d["state"] = "已删除" if d.get("deleted") else ("已修改" if d.get("edited") else "")
        table = table_data(docs, [("doc_id", "编号"), ("title", "标题"), ("doc_type", "类型"), ("region", "地区"),
                              ("issuer", "发文单位"), ("effective_to", "失效日期"), ("chunks", "段数"),
                              ("state", "状态")])
        live = [(f"{d.get('title')}  [{d['doc_id']}]", d["doc_id"]) for d in docs if not d.get("deleted")]
        return table, gr.update(choices=live)

    def upload(self, file: str | None, *meta: str, request: gr.Request) -> str:
        user = self.user(request, "curate")
        if not file:
            raise gr.Error("请先选择要上传的文件。")
        self._call(limit_upload, self.state, user)
        path = Path(file)
        fields = {k: v for k, v in zip(META_FIELDS, meta, strict=True) if v}
        res = self._call(self.state.curator.upload, path.name, path.read_bytes(), fields, by=user.username)
        return outcome_md(res)

    def doc_detail(self, doc_id: str | None, request: gr.Request) -> tuple[Any, ...]:
        self.user(request, "curate")
        if not doc_id:
            return ("", *[gr.update(value=None) for _ in META_FIELDS], gr.update(choices=[]))
        d = self._call(self.state.curator.document, doc_id)
        meta = d["meta"]
        lines = [f"### {html.escape(str(meta.get('title', '')))}",
                 f"来源文件：{html.escape(d['source'])} · 第 {d['version']} 版 · 更新于 {d['updated_at']}",
                 f"清洗：{html.escape(json.dumps(d['cleaned'], ensure_ascii=False))} · 遮盖个人信息 {d['pii_masked']} 处",
                 f"\n**切分结果：{len(d['chunks'])} 段**\n"]
        for c in d["chunks"]:
            lines.append(f"<details><summary>第 {c['position'] + 1} 段 · {html.escape(c['heading'] or '（无小标题）')}"
                         f" · {c['chars']} 字</summary>\n\n{html.escape(c['text'])}\n\n</details>")
        versions = [(f"#{v['id']} {v['file']}（{v['reason']}，{v['by']}，{v['at'][:16]}）", v["id"]) for v in d["versions"]]
        return ("\n".join(lines), *[gr.update(value=meta.get(k)) for k in META_FIELDS],
                gr.update(choices=versions, value=None))

    def doc_edit(self, doc_id: str | None, *meta: str, request: gr.Request) -> str:
        user = self.user(request, "curate")
        if not doc_id:
            raise gr.Error("请先选择文档。")
        current = self._call(self.state.curator.document, doc_id)["meta"]
        fields = {k: v for k, v in zip(META_FIELDS, meta, strict=True) if v and v != current.get(k)}
        if not fields:
            return "没有改动。"
        return outcome_md(self._call(self.state.curator.edit, doc_id, fields, by=user.username))

    def doc_replace(self, doc_id: str | None, file: str | None, request: gr.Request) -> str:
        user = self.user(request, "curate")
        if not doc_id or not file:
            raise gr.Error("请先选择文档和新文件。")
        self._call(limit_upload, self.state, user)
        path = Path(file)
        return outcome_md(self._call(self.state.curator.replace, doc_id, path.name, path.read_bytes(),
                                      by=user.username))

    def doc_delete(self, doc_id: str | None, confirm: bool, request: gr.Request) -> str:
        user = self.user(request, "curate")
        if not doc_id:
            raise gr.Error("请先选择文档。")
        if not confirm:
            raise gr.Error("请先勾选“确认删除”。")
        res = self._call(self.state.curator.delete, doc_id, by=user.username)
        return f"已删除 {html.escape(doc_id)}（原文件保存为版本 #{res['kept_version']}，可恢复）。"

    def doc_restore(self, version_id: int | None, request: gr.Request) -> str:
        user = self.user(request, "curate")
        if not version_id:
            raise gr.Error("请先选择要恢复的版本。")
        return outcome_md(self._call(self.state.curator.restore, int(version_id), by=user.username))

    def deleted_versions(self, request: gr.Request) -> Any:
        self.user(request, "curate")
        out = []
        for d in self.state.curator.documents():
            if d.get("deleted"):
                for v in self.state.curator.versions(d["doc_id"])[:1]:
                    out.append((f"{d.get('title')}  [{d['doc_id']}] 版本 #{v['id']}", v["id"]))
        return gr.update(choices=out, value=None)

    # -- trainer: review queue ------------------------------------------------------------------
    def review_list(self, request: gr.Request) -> tuple[Any, ...]:
        self.user(request, "review")
        items = self.state.review.items("open")
        for it in items:
            it["answer_short"] = it["answer"][:60]
        table = table_data(items, [("message_id", "编号"), ("reason", "原因"), ("question", "问题"),
                               ("answer_short", "当时的回答"), ("comment", "意见"), ("created_at", "时间")])
        return table, gr.update(choices=[(f"#{i['message_id']} {i['question'][:30]}", i["message_id"]) for i in items],
                                value=None)

    def review_pick(self, mid: int | None, request: gr.Request) -> tuple[Any, ...]:
        self.user(request, "review")
        item = next((i for i in self.state.review.items(None) if i["message_id"] == mid), None)
        if item is None:
            return "", ""
        md = (f"**问题**：{html.escape(item['question'])}\n\n**当时的回答**（{item['reason']}）：\n\n"
              f"> {html.escape(item['answer'])}" + (f"\n\n**意见**：{html.escape(item['comment'])}" if item["comment"] else ""))
        return md, item["question"]

    def review_resolve(self, mid: int | None, status: str, note: str, request: gr.Request) -> str:
        user = self.user(request, "review")
        if not mid:
            raise gr.Error("请先选择一条。")
        self._call(self.state.review.resolve, int(mid), status, user.username, note or "")
        return f"#{mid} 已标记为“{ {'fixed': '已解决', 'dismissed': '忽略'}.get(status, status) }”。"

    def review_add_case(self, mid: int | None, question: str, answerable: bool, evidence: str, keywords: str,
                        request: gr.Request) -> str:
        user = self.user(request, "review")
        cid = self._call(self.state.review.add_case, question or "", answerable=answerable,
                         evidence=(evidence or "").splitlines(), answer_keywords=(keywords or "").split(),
                         by=user.username, message_id=int(mid) if mid else None)
        return f"已加入评测集（curated-{cid:04d}）。评测员可用 `shegong eval export` 导出。"

    # -- evaluator and audit --------------------------------------------------------------------
    def eval_runs(self, request: gr.Request) -> str:
        self.user(request, "evaluate")
        from app.api.routes_admin import runs

        rows = runs(self.state)
        if not rows:
            return "还没有评测记录。评测从命令行启动：`shegong eval eval/sets/starter.jsonl`（或 `make eval`）。"
        out = ["| 评测 | 题数 | 召回@5 | 答对率 | 拒答正确率 | 引用正确 | P95 毫秒 |", "|---|---|---|---|---|---|---|"]
        for r in rows:
            name = html.escape(r["name"])
            link = f"[{name}](/api/eval/runs/{quote(r['name'])}/report)" if r["has_report"] else name
            out.append(f"| {link} | {r.get('cases') or ''} | {score_text(r.get('recall@5'))} | {score_text(r.get('answer_accuracy'))} "
                       f"| {score_text(r.get('refusal_accuracy'))} | {score_text(r.get('citation_correct'))} | {r.get('latency_ms_p95') or ''} |")
        return "\n".join(out)

    def audit_list(self, request: gr.Request) -> Any:
        self.user(request, "audit")
        from app.service.audit_actions import ACTION_NAMES, Action

        rows = self.state.audit.entries(300)
        for r in rows:
            try:
                r["action_name"] = ACTION_NAMES[Action(r["action"])]
            except ValueError:
                r["action_name"] = r["action"]
        return table_data(rows, [("at", "时间"), ("actor", "操作人"), ("action_name", "操作"), ("target", "对象"),
                             ("detail", "详情")])

    # -- layout ---------------------------------------------------------------------------------
