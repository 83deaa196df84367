"""The web UI: a sign-in page and a phone-first Gradio app mounted in the FastAPI process.

Every handler asks the same shared objects as the API (``app.state.shegong``): the Assistant for
answers, the conversation log, the curator, the review queue. Roles are checked on the server in
each handler, not only by hiding tabs. Nothing is loaded from the internet: system fonts only, no
analytics, no share links.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import gradio as gr
from fastapi import FastAPI, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from app.api.deps import SESSION_COOKIE, limit_upload, user_for
from app.core.errors import ShegongError
from app.core.sentences import unpack_lines
from app.core.settings import Settings
from app.core.types import DOC_TYPES
from app.service.accounts import ROLE_NAMES, User
from app.service.chat import ChatRequest
from app.service.state import AppState

log = logging.getLogger(__name__)

UI_PATH = "/ui"
EXAMPLES = [
    "第一次上门走访独居老人要注意什么？",
    "居民问残疾人两项补贴怎么申请，我该怎么答？",
    "宜川路街道给考取社工证的社区工作者发多少奖励？",
    "走访时哪些信息不能记在本子上？",
]
SYSTEM_FONTS = ["Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", "system-ui", "sans-serif"]
MONO_FONTS = ["Noto Sans Mono CJK SC", "ui-monospace", "monospace"]
META_FIELDS = ("title", "doc_type", "region", "issuer", "published", "effective_from", "effective_to")

CSS = """
.gradio-container { max-width: 860px !important; margin: 0 auto !important; padding: 6px !important; }
#sg-head { display: flex; justify-content: space-between; align-items: center; gap: 8px; flex-wrap: wrap; }
#sg-head h1 { font-size: 1.25rem; margin: 0; }
.sg-banner { background: #fff4d6; border: 1px solid #e0b84c; color: #5c4400; padding: 6px 10px;
             border-radius: 6px; font-size: .9rem; }
#sg-question textarea { font-size: 1.05rem !important; min-height: 3.2em; }
#sg-chat { min-height: 52vh; }
.sg-small { font-size: .85rem; color: #555; }
footer { display: none !important; }
"""


# ------------------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------------------
def _who(c: dict[str, Any]) -> str:
    parts = [c.get("issuer"), c.get("region"), c.get("published")]
    return " · ".join(html.escape(str(p)) for p in parts if p and p != "未注明")


def readable(passage: str) -> str:
    """Passages for display; those split before splitter version 2 get their lines back."""
    return unpack_lines(passage)


def render_answer(ans: dict[str, Any]) -> str:
    """An answer as chat markdown: the answer first, then numbered sources that open to the passage."""
    text = html.escape(str(ans.get("answer", "")))
    if ans.get("refused"):
        # the refusal text itself names the nearest documents
        return "\n".join(["### 🔍 知识库中没有找到", "", f"> {text}"])
    out = [text]
    if ans.get("mode") == "extractive_fallback":
        out.append("\n*（大模型暂不可用，以上为知识库原文摘录）*")
    cites = ans.get("citations") or []
    if cites:
        out += ["", "**来源**"]
        for c in cites:
            head = f"[{c['n']}] {html.escape(str(c.get('title', '')))}"
            who = _who(c)
            summary = head + (f" <span class='sg-small'>{who}</span>" if who else "")
            heading = html.escape(str(c.get("heading") or ""))
            passage = readable(html.escape(str(c.get("text", ""))))
            out.append(f"<details><summary>{summary}</summary>\n\n"
                       + (f"**{heading}**\n\n" if heading else "") + f"{passage}\n\n</details>")
    return "\n".join(out)


def _table(rows: list[dict[str, Any]], cols: list[tuple[str, str]]) -> dict[str, Any]:
    return {"headers": [c[1] for c in cols], "data": [[str(r.get(c[0], "") or "") for c in cols] for r in rows]}


# ------------------------------------------------------------------------------------------------
# The sign-in page (plain HTML: it must work before any script loads)
# ------------------------------------------------------------------------------------------------
def _login_page(message: str = "", next_url: str = UI_PATH) -> str:
    msg = f'<p class="err">{html.escape(message)}</p>' if message else ""
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>登录 · 社工AI助手</title>
<style>body{{font-family:{",".join(repr(f) for f in SYSTEM_FONTS)};margin:0;background:#f4f6f8}}
main{{max-width:380px;margin:12vh auto;background:#fff;padding:24px;border-radius:10px;box-shadow:0 1px 4px #0002}}
h1{{font-size:1.3rem;margin-top:0}}label{{display:block;margin:12px 0 4px}}
input{{width:100%;box-sizing:border-box;font-size:1.05rem;padding:10px;border:1px solid #bbb;border-radius:6px}}
button{{margin-top:18px;width:100%;font-size:1.1rem;padding:10px;border:0;border-radius:6px;background:#2563eb;color:#fff}}
.err{{color:#b91c1c}}</style></head><body><main><h1>社工AI助手 · 登录</h1>{msg}
<form method="post" action="/login"><input type="hidden" name="next" value="{html.escape(next_url)}">
<label for="u">用户名</label><input id="u" name="username" autocomplete="username" required>
<label for="p">密码</label><input id="p" name="password" type="password" autocomplete="current-password" required>
<button type="submit">登录</button></form></main></body></html>"""


def _safe_next(url: str) -> str:
    return url if url.startswith(UI_PATH) and "//" not in url and "\\" not in url else UI_PATH


def add_login_routes(app: FastAPI, settings: Settings) -> None:
    @app.get("/login", include_in_schema=False)
    def login_form(next: str = UI_PATH) -> HTMLResponse:
        if settings.auth == "off":
            return HTMLResponse(_login_page("本机试用模式未开启登录，直接打开 /ui 即可。", UI_PATH))
        return HTMLResponse(_login_page(next_url=_safe_next(next)))

    @app.post("/login", include_in_schema=False)
    def login_submit(request: Request, username: str = Form(""), password: str = Form(""),
                     next: str = Form(UI_PATH)) -> Response:
        state: AppState = request.app.state.shegong
        try:
            token, _ = state.accounts.login(username, password, label="ui")
        except ShegongError as exc:
            return HTMLResponse(_login_page(str(exc), _safe_next(next)), status_code=401)
        resp = RedirectResponse(_safe_next(next), status_code=303)
        resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", path="/",
                        secure=request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https",
                        max_age=int(state.accounts.token_ttl_s))
        return resp

    @app.get("/logout", include_in_schema=False)
    def logout(request: Request) -> Response:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            request.app.state.shegong.accounts.revoke(token)
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(UI_PATH + "/")

    @app.middleware("http")
    async def ui_needs_login(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """A signed-out visit to the UI page goes to the sign-in page (Gradio itself would say 401)."""
        path = request.url.path
        if settings.auth == "on" and request.method == "GET" and path in (UI_PATH, UI_PATH + "/"):
            try:
                user_for(request.app.state.shegong, request.cookies.get(SESSION_COOKIE))
            except ShegongError:
                return RedirectResponse("/login?next=" + quote(UI_PATH + "/"), status_code=303)
        return await call_next(request)


# ------------------------------------------------------------------------------------------------
# The Gradio app
# ------------------------------------------------------------------------------------------------
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
        table = _table(docs, [("doc_id", "编号"), ("title", "标题"), ("doc_type", "类型"), ("region", "地区"),
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
        return _outcome_md(res)

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
        return _outcome_md(self._call(self.state.curator.edit, doc_id, fields, by=user.username))

    def doc_replace(self, doc_id: str | None, file: str | None, request: gr.Request) -> str:
        user = self.user(request, "curate")
        if not doc_id or not file:
            raise gr.Error("请先选择文档和新文件。")
        self._call(limit_upload, self.state, user)
        path = Path(file)
        return _outcome_md(self._call(self.state.curator.replace, doc_id, path.name, path.read_bytes(),
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
        return _outcome_md(self._call(self.state.curator.restore, int(version_id), by=user.username))

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
        table = _table(items, [("message_id", "编号"), ("reason", "原因"), ("question", "问题"),
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
            out.append(f"| {link} | {r.get('cases') or ''} | {_f(r.get('recall@5'))} | {_f(r.get('answer_accuracy'))} "
                       f"| {_f(r.get('refusal_accuracy'))} | {_f(r.get('citation_correct'))} | {r.get('latency_ms_p95') or ''} |")
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
        return _table(rows, [("at", "时间"), ("actor", "操作人"), ("action_name", "操作"), ("target", "对象"),
                             ("detail", "详情")])

    # -- layout ---------------------------------------------------------------------------------
    def build(self, regions: list[str]) -> gr.Blocks:
        with gr.Blocks(title="社工AI助手", analytics_enabled=False) as demo:
            head = gr.HTML('<div id="sg-head"><h1>社工AI助手</h1></div>')
            conv_id = gr.State("")
            msg_ids = gr.State([])
            last_mid = gr.State(None)
            with gr.Tab("问答"):
                chat = gr.Chatbot(elem_id="sg-chat", label="对话", show_label=False, height="60vh",
                                  feedback_options=("Like", "Dislike"), sanitize_html=True, buttons=["copy"],
                                  placeholder="问我政策、走访和办事流程。回答只来自知识库，并注明出处。")
                question = gr.Textbox(elem_id="sg-question", show_label=False, lines=2, max_lines=6,
                                      placeholder="输入问题，例如：第一次上门走访独居老人要注意什么？",
                                      max_length=2000)
                with gr.Row():
                    send = gr.Button("发送", variant="primary", elem_id="sg-send", scale=3)
                    new = gr.Button("新对话", elem_id="sg-new", scale=1)
                fb_note = gr.Markdown("", elem_classes=["sg-small"])
                fb_text = gr.Textbox(label="👎 的原因（可选）", visible=False, lines=2, max_length=1000)
                fb_send = gr.Button("提交意见", size="sm", visible=False)
                gr.Examples(EXAMPLES, inputs=question, label="试试这些问题")
                with gr.Accordion("设置与以前的对话", open=False):
                    region = gr.Dropdown(regions, label="我所在的地区（本地区和上级的文件优先）", value=None,
                                         allow_custom_value=False)
                    history = gr.Dropdown([], label="以前的对话", value=None, elem_id="sg-history")
            with gr.Tab("知识库", visible=False) as tab_docs:
                refresh = gr.Button("刷新文档列表", size="sm")
                docs = gr.Dataframe(label="文档", interactive=False, wrap=True)
                pick = gr.Dropdown([], label="选择一个文档查看切分、修改或删除")
                detail = gr.Markdown()
                with gr.Accordion("上传新文档", open=False):
                    gr.Markdown("上传 PDF、DOCX、TXT、MD、HTML，填写类型、地区和日期；上传后自动清洗、切分并入库。")
                    up_file = gr.File(label="选择文件", file_types=[".pdf", ".docx", ".txt", ".md", ".html", ".htm"],
                                      type="filepath")
                    up_meta = _meta_inputs(regions)
                    up_btn = gr.Button("上传并入库", variant="primary")
                    up_out = gr.Markdown()
                with gr.Accordion("修改信息", open=False):
                    ed_meta = _meta_inputs(regions)
                    ed_btn = gr.Button("保存修改")
                with gr.Accordion("替换文件 / 删除 / 恢复旧版本", open=False):
                    rp_file = gr.File(label="新文件", type="filepath",
                                      file_types=[".pdf", ".docx", ".txt", ".md", ".html", ".htm"])
                    rp_btn = gr.Button("替换")
                    del_ok = gr.Checkbox(label="确认删除（文件会保留，可恢复）")
                    del_btn = gr.Button("删除", variant="stop")
                    versions = gr.Dropdown([], label="此文档保存的旧版本")
                    deleted = gr.Dropdown([], label="已删除的文档")
                    rs_btn = gr.Button("恢复所选版本")
                doc_out = gr.Markdown()
            with gr.Tab("待改进", visible=False) as tab_review:
                gr.Markdown("被拒答或被点了 👎 的问题。补充知识库后标记“已解决”，或把问题和应引用的原文加入评测集。")
                rv_refresh = gr.Button("刷新", size="sm")
                rv_table = gr.Dataframe(interactive=False, wrap=True)
                rv_pick = gr.Dropdown([], label="选择一条")
                rv_detail = gr.Markdown()
                rv_note = gr.Textbox(label="备注（可选）")
                with gr.Row():
                    rv_fixed = gr.Button("已解决")
                    rv_dismiss = gr.Button("忽略")
                with gr.Accordion("加入评测集", open=False):
                    cs_q = gr.Textbox(label="问题")
                    cs_ans = gr.Checkbox(label="知识库应当能回答（不勾选表示应当拒答）", value=True)
                    cs_ev = gr.Textbox(label="应引用的原文（每行一条，回答引用的段落必须包含其中之一）", lines=3)
                    cs_kw = gr.Textbox(label="答案关键词（空格分隔）")
                    cs_btn = gr.Button("加入评测集")
                rv_out = gr.Markdown()
            with gr.Tab("评测", visible=False) as tab_eval:
                ev_refresh = gr.Button("刷新", size="sm")
                ev_runs = gr.Markdown()
            with gr.Tab("操作记录", visible=False) as tab_audit:
                au_refresh = gr.Button("刷新", size="sm")
                au_table = gr.Dataframe(interactive=False, wrap=True)

            ask_io = ([question, chat, conv_id, msg_ids, region], [question, chat, conv_id, msg_ids])
            send.click(self.ask, *ask_io).then(self.conversations, None, history)
            question.submit(self.ask, *ask_io).then(self.conversations, None, history)
            new.click(self.new_chat, None, [chat, conv_id, msg_ids, history])
            chat.clear(self.new_chat, None, [chat, conv_id, msg_ids, history])
            history.input(self.open_conversation, [history], [chat, conv_id, msg_ids])
            chat.like(self.like, [msg_ids], [last_mid, fb_text, fb_send, fb_note])
            fb_send.click(self.comment, [last_mid, fb_text], [fb_text, fb_send, fb_note])
            demo.load(self.on_load, None, [head, tab_docs, tab_review, tab_eval, tab_audit, history, region])

            tab_docs.select(self.doc_list, None, [docs, pick]).then(self.deleted_versions, None, deleted)
            refresh.click(self.doc_list, None, [docs, pick]).then(self.deleted_versions, None, deleted)
            up_btn.click(self.upload, [up_file, *up_meta], up_out).then(self.doc_list, None, [docs, pick])
            pick.input(self.doc_detail, [pick], [detail, *ed_meta, versions])
            ed_btn.click(self.doc_edit, [pick, *ed_meta], doc_out).then(self.doc_list, None, [docs, pick])
            rp_btn.click(self.doc_replace, [pick, rp_file], doc_out).then(self.doc_list, None, [docs, pick])
            del_btn.click(self.doc_delete, [pick, del_ok], doc_out).then(self.doc_list, None, [docs, pick]).then(
                self.deleted_versions, None, deleted)
            rs_btn.click(lambda v, d, request: self.doc_restore(v or d, request), [versions, deleted], doc_out).then(
                self.doc_list, None, [docs, pick])

            tab_review.select(self.review_list, None, [rv_table, rv_pick])
            rv_refresh.click(self.review_list, None, [rv_table, rv_pick])
            rv_pick.input(self.review_pick, [rv_pick], [rv_detail, cs_q])
            rv_fixed.click(lambda m, n, request: self.review_resolve(m, "fixed", n, request), [rv_pick, rv_note],
                           rv_out).then(self.review_list, None, [rv_table, rv_pick])
            rv_dismiss.click(lambda m, n, request: self.review_resolve(m, "dismissed", n, request),
                             [rv_pick, rv_note], rv_out).then(self.review_list, None, [rv_table, rv_pick])
            cs_btn.click(self.review_add_case, [rv_pick, cs_q, cs_ans, cs_ev, cs_kw], rv_out).then(
                self.review_list, None, [rv_table, rv_pick])

            tab_eval.select(self.eval_runs, None, ev_runs)
            ev_refresh.click(self.eval_runs, None, ev_runs)
            tab_audit.select(self.audit_list, None, au_table)
            au_refresh.click(self.audit_list, None, au_table)
        return demo


def _meta_inputs(regions: list[str]) -> list[Any]:
    with gr.Group():
        title = gr.Textbox(label="标题（留空则从正文识别）")
        with gr.Row():
            doc_type = gr.Dropdown(list(DOC_TYPES), label="类型", value=None)
            region = gr.Dropdown(regions, label="适用地区", value=None)
        issuer = gr.Textbox(label="发文单位")
        with gr.Row():
            published = gr.Textbox(label="发布日期", placeholder="YYYY-MM-DD")
            eff_from = gr.Textbox(label="生效日期", placeholder="YYYY-MM-DD")
            eff_to = gr.Textbox(label="失效日期", placeholder="YYYY-MM-DD")
    return [title, doc_type, region, issuer, published, eff_from, eff_to]


def _outcome_md(res: dict[str, Any]) -> str:
    doc = html.escape(str(res.get("doc_id") or ""))
    if res.get("status") == "failed":
        return f"❌ 未能入库：{html.escape(str(res.get('error')))}"
    words = {"added": "已入库", "updated": "已更新", "unchanged": "内容未变", "skipped": "已跳过"}
    out = f"✅ {doc} {words.get(res['status'], res['status'])}：切分为 {res.get('chunks', 0)} 段"
    if res.get("pii_masked"):
        out += f"，遮盖身份证号/手机号 {res['pii_masked']} 处"
    return out + "。"


def _f(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, (int, float)) else ""


def mount_ui(app: FastAPI, settings: Settings) -> None:
    """Sign-in routes and the Gradio app at ``/ui``, hardened: no share links, no file serving."""
    from app.service.factory import load_region_tree, region_names

    add_login_routes(app, settings)
    regions = sorted(region_names(load_region_tree(settings.regions_file)))
    demo = UI(app, settings).build(regions)
    demo.queue(default_concurrency_limit=4)

    def gradio_user(request: Request) -> str | None:
        try:
            return user_for(app.state.shegong, request.cookies.get(SESSION_COOKIE)).username
        except ShegongError:
            return None

    theme = gr.themes.Soft(font=SYSTEM_FONTS, font_mono=MONO_FONTS)
    gr.mount_gradio_app(
        app, demo, path=UI_PATH, auth_dependency=gradio_user, footer_links=[], ssr_mode=False, pwa=False,
        mcp_server=False, enable_monitoring=False, allowed_paths=[], blocked_paths=[str(settings.data_dir.resolve())],
        max_file_size=f"{min(settings.max_upload_mb, settings.max_file_mb):g}mb", show_error=True, theme=theme,
        css=CSS,
    )
