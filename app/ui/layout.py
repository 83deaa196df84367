"""The Gradio Blocks: the tabs, their inputs and outputs, and which handler each event calls."""

from __future__ import annotations

from typing import Any

import gradio as gr

from app.core.types import DOC_TYPES
from app.ui.handlers import UI
from app.ui.render import EXAMPLES


def build(ui: UI, regions: list[str]) -> gr.Blocks:
    """The Blocks of every tab, wired to the handlers of ``ui``."""
    with gr.Blocks(title="社工AI助手", analytics_enabled=False) as demo:
        # Markdown, not gr.HTML: Gradio's HTML component compiles its template with `new Function`,
        # which the content security policy forbids (no 'unsafe-eval'; see app/api/security.py).
        head = gr.Markdown('<div id="sg-head"><h1>社工AI助手</h1></div>')
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
                up_meta = meta_inputs(regions)
                up_btn = gr.Button("上传并入库", variant="primary")
                up_out = gr.Markdown()
            with gr.Accordion("修改信息", open=False):
                ed_meta = meta_inputs(regions)
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
        send.click(ui.ask, *ask_io).then(ui.conversations, None, history)
        question.submit(ui.ask, *ask_io).then(ui.conversations, None, history)
        new.click(ui.new_chat, None, [chat, conv_id, msg_ids, history])
        chat.clear(ui.new_chat, None, [chat, conv_id, msg_ids, history])
        history.input(ui.open_conversation, [history], [chat, conv_id, msg_ids])
        chat.like(ui.like, [msg_ids], [last_mid, fb_text, fb_send, fb_note])
        fb_send.click(ui.comment, [last_mid, fb_text], [fb_text, fb_send, fb_note])
        demo.load(ui.on_load, None, [head, tab_docs, tab_review, tab_eval, tab_audit, history, region])

        tab_docs.select(ui.doc_list, None, [docs, pick]).then(ui.deleted_versions, None, deleted)
        refresh.click(ui.doc_list, None, [docs, pick]).then(ui.deleted_versions, None, deleted)
        up_btn.click(ui.upload, [up_file, *up_meta], up_out).then(ui.doc_list, None, [docs, pick])
        pick.input(ui.doc_detail, [pick], [detail, *ed_meta, versions])
        ed_btn.click(ui.doc_edit, [pick, *ed_meta], doc_out).then(ui.doc_list, None, [docs, pick])
        rp_btn.click(ui.doc_replace, [pick, rp_file], doc_out).then(ui.doc_list, None, [docs, pick])
        del_btn.click(ui.doc_delete, [pick, del_ok], doc_out).then(ui.doc_list, None, [docs, pick]).then(
            ui.deleted_versions, None, deleted)
        rs_btn.click(lambda v, d, request: ui.doc_restore(v or d, request), [versions, deleted], doc_out).then(
            ui.doc_list, None, [docs, pick])

        tab_review.select(ui.review_list, None, [rv_table, rv_pick])
        rv_refresh.click(ui.review_list, None, [rv_table, rv_pick])
        rv_pick.input(ui.review_pick, [rv_pick], [rv_detail, cs_q])
        rv_fixed.click(lambda m, n, request: ui.review_resolve(m, "fixed", n, request), [rv_pick, rv_note],
                       rv_out).then(ui.review_list, None, [rv_table, rv_pick])
        rv_dismiss.click(lambda m, n, request: ui.review_resolve(m, "dismissed", n, request),
                         [rv_pick, rv_note], rv_out).then(ui.review_list, None, [rv_table, rv_pick])
        cs_btn.click(ui.review_add_case, [rv_pick, cs_q, cs_ans, cs_ev, cs_kw], rv_out).then(
            ui.review_list, None, [rv_table, rv_pick])

        tab_eval.select(ui.eval_runs, None, ev_runs)
        ev_refresh.click(ui.eval_runs, None, ev_runs)
        tab_audit.select(ui.audit_list, None, au_table)
        au_refresh.click(ui.audit_list, None, au_table)
    return demo


def meta_inputs(regions: list[str]) -> list[Any]:
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
