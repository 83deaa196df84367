"""What the UI shows, as HTML and Gradio values: an answer with its numbered sources and their
nature, a passage made readable, tables, the outcome of an upload; the page's fonts and CSS."""

from __future__ import annotations

import html
from typing import Any

from app.core.sentences import unpack_lines

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


def table_data(rows: list[dict[str, Any]], cols: list[tuple[str, str]]) -> dict[str, Any]:
    return {"headers": [c[1] for c in cols], "data": [[str(r.get(c[0], "") or "") for c in cols] for r in rows]}



def outcome_md(res: dict[str, Any]) -> str:
    doc = html.escape(str(res.get("doc_id") or ""))
    if res.get("status") == "failed":
        return f"❌ 未能入库：{html.escape(str(res.get('error')))}"
    words = {"added": "已入库", "updated": "已更新", "unchanged": "内容未变", "skipped": "已跳过"}
    out = f"✅ {doc} {words.get(res['status'], res['status'])}：切分为 {res.get('chunks', 0)} 段"
    if res.get("pii_masked"):
        out += f"，遮盖身份证号/手机号 {res['pii_masked']} 处"
    return out + "。"


def score_text(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, (int, float)) else ""
