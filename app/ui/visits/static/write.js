// 智慧小助手 on the phone page: a work log, a monthly report, a visit summary or a notice, drafted by
// the server from the records, edited here, downloaded as Word. Shares app.js's helpers (el, api,
// render, navToken); nothing is kept in the phone's storage (drafts hold residents' data).
"use strict";

async function downloadDocx(body, text, name) {
  const r = await fetch("/api/drafts/docx", {
    method: "POST", credentials: "same-origin", cache: "no-store",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify({ ...body, text }),
  }).catch(() => null);
  if (!r) throw new ApiError(0, "网络不通，请稍后再试。");
  if (!r.ok) {
    const data = await r.json().catch(() => ({}));
    throw new ApiError(r.status, data.detail || `出错了（${r.status}）`);
  }
  const url = URL.createObjectURL(await r.blob());
  const a = el("a", { href: url, download: `${name}.docx` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30000);
}

// The draft, editable, with where each figure came from and a Word download of the edited text.
function draftEditor(body, d) {
  const text = el("textarea", { id: "draft-text", rows: "18", "aria-label": "材料内容，可以直接修改" });
  text.value = d.text;
  const status = el("p", { id: "draft-status", class: "muted", role: "status" });
  const facts = el("details", { id: "draft-facts" }, el("summary", { text: `数字和名称的来源（${d.facts.length} 项）` }),
    d.facts.map((f) => el("div", { class: "muted", text: `${f.label}：${f.value}（${f.source}）` })));
  const polish = el("button", { id: "draft-polish", text: "让大模型润色" });
  polish.addEventListener("click", async () => {
    polish.disabled = true;
    status.textContent = "润色中…";
    try {
      const p = await api("POST", "/api/drafts", { ...body, polish: true });
      if (p.drafted_by === "llm") text.value = p.text;
      status.textContent = p.note;
    } catch (e) { status.textContent = e.message; }
    polish.disabled = false;
  });
  const down = el("button", { class: "primary", id: "draft-docx", text: "下载 Word" });
  down.addEventListener("click", async () => {
    down.disabled = true;
    try {
      await downloadDocx(body, text.value, d.title);
      status.textContent = "已下载。";
    } catch (e) { status.textContent = e.message; }
    down.disabled = false;
  });
  return el("div", { class: "card", id: "draft" },
    el("div", { class: "row" }, el("h3", { class: "grow", text: `${d.kind_name}（草稿）` }), d.demo ? demoBadge(true) : null),
    d.notices.map((n) => el("p", { class: n.includes("虚构") ? "err" : "muted", text: n })),
    d.note ? el("p", { class: "muted", text: d.note }) : null,
    text, facts, el("div", { class: "row" }, polish, down), status);
}

async function makeDraft(token, body, out) {
  out.replaceChildren(el("p", { class: "muted", text: "生成中…" }));
  try {
    const d = await api("POST", "/api/drafts", body);
    if (token === navToken) out.replaceChildren(draftEditor(body, d));
  } catch (e) { if (token === navToken) out.replaceChildren(errorBox(e)); }
}

function monthsBack(n) {
  const [y, m] = todayShanghai().split("-").map(Number);
  return Array.from({ length: n }, (_, i) => {
    const d = new Date(Date.UTC(y, m - 1 - i, 1));
    return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, "0")}`;
  });
}

async function showWrite(what, id) {
  const token = navToken;
  const out = el("div", { id: "draft-out" });
  const head = el("h2", { text: "写材料" });
  if (what === "visit") {
    render(token, head, el("p", {}, el("a", { href: "#plan", text: "← 计划" })), out);
    return makeDraft(token, { kind: "visit_summary", visit_id: Number(id) }, out);
  }
  let templates = [];
  try { templates = (await api("GET", "/api/drafts/templates")).templates; } catch (e) { return render(token, head, errorBox(e)); }
  const day = el("input", { type: "date", id: "log-day", value: todayShanghai() });
  const span = el("select", { id: "log-span" }, el("option", { value: "day", text: "当天" }), el("option", { value: "week", text: "这一周" }));
  const log = el("div", { class: "card" }, el("h3", { text: "工作日志" }), el("div", { class: "row" }, day, span),
    el("button", { id: "make-log", text: "生成工作日志",
      onclick: () => makeDraft(token, { kind: "work_log", day: day.value, span: span.value }, out) }));
  const month = el("select", { id: "report-month" }, monthsBack(6).map((m) => el("option", { value: m, text: m })));
  const report = el("div", { class: "card" }, el("h3", { text: "月度走访情况报告" }),
    el("p", { class: "muted", text: me && me.visit_scope === "own" ? "按您负责的住户统计。" : "按您管辖的全部居委统计，数字与看板一致。" }),
    month, el("button", { id: "make-report", text: "生成月度报告",
      onclick: () => makeDraft(token, { kind: "monthly_report", month: month.value }, out) }));
  const pick = el("select", { id: "notice-template" }, templates.map((t) => el("option", { value: t.key, text: t.name })));
  const fields = el("div", { id: "notice-fields" });
  const drawFields = () => {
    const t = templates.find((x) => x.key === pick.value);
    fields.replaceChildren(...(t ? t.fields : []).map((f) => fieldRow(f.label + (f.required ? "" : "（可不填）"),
      el("input", { name: f.key, placeholder: `例如：${f.example}`, maxlength: "200" }))));
  };
  pick.addEventListener("change", drawFields);
  drawFields();
  const notice = el("div", { class: "card" }, el("h3", { text: "通知" }), pick, fields,
    el("button", { id: "make-notice", text: "生成通知", onclick: () => {
      const values = Object.fromEntries([...fields.querySelectorAll("input")].map((i) => [i.name, i.value.trim()]));
      makeDraft(token, { kind: "notice", template: pick.value, fields: values }, out);
    } }));
  render(token, head, el("p", { class: "muted", text: "材料由系统根据记录生成，请核对、修改后再下载。" }),
    what === "report" ? [report, log, notice] : [log, report, notice], out);
}
