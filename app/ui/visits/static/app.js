// 智慧走访: the visit module's phone page. Plain script, no libraries, nothing fetched from elsewhere.
// Every text from the server is put on the page with textContent, never as HTML.
// A worker's note and every unsent record live in localStorage until the server has them; each record
// carries its own client_id, so sending it again (after a reload, a lost signal) is still one visit.
"use strict";

const OUTBOX = "sg.visits.outbox";
const PLAN_CACHE = "sg.visits.plan";
const NOTE = (hid) => `sg.visits.note.${hid}`;
const DRAFT = (hid) => `sg.visits.draft.${hid}`;
const METHODS = ["入户", "电话", "微信", "其他"];
const RISKS = ["正常", "关注", "紧急"];
const CATEGORIES = ["医疗健康", "生活照料", "经济困难", "住房与居住安全", "就业", "养老服务", "助残服务", "矛盾纠纷", "政策咨询",
  "心理关爱", "其他"];
const view = document.getElementById("view");
let me = null;

// -- small helpers -----------------------------------------------------------------------------
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k === "style") e.style.cssText = v; // CSSOM, not an inline style attribute: the CSP has no 'unsafe-inline'
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}
// The drawn view names its route (data-route), so a test can wait for the new view, not the old one.
function show(...nodes) {
  view.replaceChildren(...nodes.flat(Infinity));
  view.dataset.route = location.hash || "#plan";
  window.scrollTo(0, 0);
}
// A view that finishes loading after the worker has moved on (a slow plan, then a tap on 台账) must
// not cover the newer one: each route takes a token, and only the newest may draw.
let navToken = 0;
function render(token, ...nodes) { if (token === navToken) show(...nodes); }
function load(key, fallback) {
  try { const v = localStorage.getItem(key); return v === null ? fallback : JSON.parse(v); } catch { return fallback; }
}
function save(key, value) { localStorage.setItem(key, JSON.stringify(value)); }
function newId() {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return "v-" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
function todayShanghai() {
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }).format(new Date());
}

class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

async function api(method, path, body) {
  let r;
  try {
    r = await fetch(path, {
      method, credentials: "same-origin", cache: "no-store",
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (e) {
    throw new ApiError(0, "网络不通，请稍后再试。");
  }
  if (r.status === 401) {
    location.href = "/login?next=/visits";
    throw new ApiError(401, "请先登录。");
  }
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiError(r.status, data.detail || `出错了（${r.status}）`);
  return data;
}

function demoBadge(demo) { return demo ? el("span", { class: "badge demo", text: "虚构示例" }) : null; }
function tags(list) { return (list || []).map((t) => el("span", { class: "tag", text: t })); }
function errorBox(e) { return el("p", { class: "err", role: "alert", text: e.message || String(e) }); }

// -- network state and the outbox ---------------------------------------------------------------
function renderNet() {
  const net = document.getElementById("net");
  net.hidden = navigator.onLine;
  net.textContent = "当前没有网络：记录会先存在手机上，联网后自动发送。";
  const box = load(OUTBOX, []);
  const ob = document.getElementById("outbox");
  ob.hidden = box.length === 0;
  const failed = box.filter((x) => x.error);
  ob.replaceChildren(`有 ${box.length} 条走访记录待发送`,
    failed.length ? el("span", { class: "err", text: `（${failed.length} 条被退回：${failed[0].error}）` }) : "",
    " ", el("button", { onclick: flushOutbox, text: "现在发送" }));
}

let flushing = false;
async function flushOutbox() {
  if (flushing) return;
  flushing = true;
  try {
    for (const item of load(OUTBOX, [])) {
      try {
        const res = await api("POST", "/api/visits", item.body);
        save(OUTBOX, load(OUTBOX, []).filter((x) => x.body.client_id !== item.body.client_id));
        if (item.onSentView && location.hash === item.onSentView) showSaved(res);
      } catch (e) {
        if (e.status === 0 || e.status === 401 || e.status === 429 || e.status >= 500) break; // try again later
        const box = load(OUTBOX, []);
        const mine = box.find((x) => x.body.client_id === item.body.client_id);
        if (mine) { mine.error = e.message; save(OUTBOX, box); }
      }
    }
  } finally {
    flushing = false;
    renderNet();
  }
}
window.addEventListener("online", () => { renderNet(); flushOutbox(); });
window.addEventListener("offline", renderNet);
setInterval(() => { if (navigator.onLine) flushOutbox(); }, 30000);

// -- plan ----------------------------------------------------------------------------------------
function planItem(x) {
  const cls = "card" + (x.urgent ? " urgent" : x.overdue_days > 0 ? " overdue" : "");
  return el("a", { class: cls, href: `#h/${x.household_id}`, "data-household": x.household_id },
    el("div", { class: "row" }, el("b", { class: "grow", text: x.address }),
      x.urgent ? el("span", { class: "badge red", text: "紧急" }) : null,
      x.overdue_days > 0 ? el("span", { class: "badge amber", text: `逾期 ${x.overdue_days} 天` }) : null,
      demoBadge(x.demo)),
    el("div", {}, tags(x.tags), el("span", { class: "muted", text: ` ${x.kind} · ${x.worker || "未分配"}` })),
    el("div", { class: "reason", text: x.reason }));
}

async function showPlan() {
  const token = navToken;
  let plan;
  let stale = false;
  try {
    plan = await api("GET", "/api/plan");
    save(PLAN_CACHE, plan);
  } catch (e) {
    plan = load(PLAN_CACHE, null);
    if (!plan) return render(token, el("h2", { text: "走访计划" }), errorBox(e));
    stale = true;
  }
  const parts = [];
  if (stale) parts.push(el("p", { class: "muted", text: `离线：显示的是 ${plan.day} 上次打开时的计划。` }));
  if ([...plan.today, ...plan.week].some((x) => x.demo)) {
    parts.push(el("div", { class: "demo-banner", text: "标有“虚构示例”的户和走访记录都是演示用的虚构数据，不是真实居民。" }));
  }
  if (plan.weather && plan.weather.on) {
    parts.push(el("div", { class: "sos", text: `极端天气关爱已开启：${plan.weather.tags.join("、")}（${plan.weather.note || ""}）今天都要联系。` }));
  }
  if (me && (me.visit_scope === "all" || me.visit_scope === "region") && !stale) {
    try {
      const urgent = (await api("GET", "/api/visits/urgent")).items;
      if (urgent.length) {
        parts.push(el("h2", { text: `紧急记录（${urgent.length}）` }));
        for (const v of urgent) {
          parts.push(el("a", { class: "card urgent", href: `#h/${v.household_id}` },
            el("b", { text: `${v.juwei} ${v.address}` }), demoBadge(v.demo),
            el("div", { class: "reason", text: `${v.visited_on} ${v.worker}：${v.risk_signs.join("、") || "紧急"}` }),
            el("div", { class: "muted", text: v.notes.slice(0, 60) })));
        }
      }
    } catch (e) { parts.push(errorBox(e)); }
    if (!plan.own && plan.by_worker.length) {
      parts.push(el("h2", { text: "按社工" }),
        el("div", { class: "card" }, plan.by_worker.map((w) => el("div", { class: "row" },
          el("span", { class: "grow", text: w.worker }),
          el("span", { class: "muted", text: `今天 ${w.today} · 本周 ${w.week} · 逾期 ${w.overdue}` })))));
    }
  }
  parts.push(el("h2", { text: `今天（${plan.day}）· ${plan.today.length} 户` }));
  parts.push(plan.today.length ? plan.today.map(planItem) : el("p", { class: "muted", text: "今天没有到期的户。" }));
  parts.push(el("h2", { text: `本周其余 · ${plan.week.length} 户` }));
  parts.push(plan.week.map(planItem));
  render(token, el("h1", { class: "sr", text: "走访计划" }), parts);
}

// -- household and brief ----------------------------------------------------------------------
function citations(list) {
  return el("div", { class: "cite" }, (list || []).map((c) => el("div", {},
    `[${c.n}] `, el("b", { text: c.title }), c.heading ? ` · ${c.heading}` : "",
    c.fictional ? el("span", { class: "badge demo", text: "虚构示例" }) : null,
    c.doc_type ? el("span", { class: "muted", text: ` （${c.doc_type}）` }) : null)));
}

async function showHousehold(hid) {
  const token = navToken;
  render(token, el("p", { class: "muted", text: "加载中…" }));
  let h, brief;
  try {
    [h, brief] = await Promise.all([api("GET", `/api/households/${hid}`), api("GET", `/api/households/${hid}/brief`)]);
  } catch (e) {
    return render(token, el("p", {}, el("a", { href: "#plan", text: "← 计划" })), errorBox(e));
  }
  const members = h.members.map((m) => {
    const call = el("span", {});
    if (m.has_phone) {
      call.append(el("button", {
        text: `拨打 ${m.phone}`, onclick: async (ev) => {
          ev.target.disabled = true;
          try {
            const p = await api("GET", `/api/households/${hid}/members/${m.id}/phone`);
            call.replaceChildren(el("a", { class: "btn", href: `tel:${p.phone}`, text: `📞 ${p.phone}` }));
          } catch (e) { call.replaceChildren(errorBox(e)); }
        },
      }));
    }
    return el("div", { class: "row fu" }, el("span", { class: "grow" },
      el("b", { text: m.name }), ` ${m.relation || ""}`, m.age ? ` ${m.age} 岁` : "", " ", tags(m.tags)), call);
  });
  render(token, 
    el("p", {}, el("a", { href: "#plan", text: "← 计划" })),
    el("div", { class: "card" + (h.urgent_open ? " urgent" : "") },
      el("div", { class: "row" }, el("b", { class: "grow", text: `${h.juwei} ${h.address}` }), demoBadge(h.demo)),
      el("div", {}, tags(h.tags), el("span", { class: "muted", text: ` ${h.status} · 社工 ${h.worker || "未分配"}` })),
      h.notes ? el("div", { class: "muted", text: h.notes }) : null, members),
    el("button", { class: "primary", style: "width:100%", onclick: () => { location.hash = `#rec/${hid}`; },
      text: "写走访记录" }),
    el("h2", { text: "访前提示" }),
    el("div", { class: "card" }, el("h3", { text: "这次要问" }),
      brief.checklist.map((c) => el("div", { text: "□ " + c }))),
    el("div", { class: "card" }, el("h3", { text: "最近走访" }),
      brief.last_visits.length ? brief.last_visits.map((v) => el("div", { class: "fu" },
        el("div", { text: v.lines[0] }), el("div", { class: "muted", text: v.lines[1] })))
        : el("div", { class: "muted", text: "还没有走访记录。" })),
    el("div", { class: "card" }, el("h3", { text: `未关闭的跟进（${brief.open_followups.length}）` }),
      brief.open_followups.map((f) => el("div", { class: "fu" }, f.item,
        el("span", { class: "muted", text: ` 期限 ${f.due_on || "未定"}` })))),
    el("div", { class: "card", id: "policies" }, el("h3", { text: "可能适用的政策和服务" }),
      brief.policies.length ? brief.policies.map((p) => el("div", { class: "fu" },
        el("div", { text: p.text }), citations(p.citations)))
        : el("p", { class: "muted", text: brief.policies_note })),
  );
}

// -- record: quick capture, confirm, save ---------------------------------------------------------
function fieldRow(label, input) { return el("div", {}, el("label", { text: label }), input); }

function recordForm(hid, d) {
  const date = el("input", { type: "date", value: d.visited_on || todayShanghai(), name: "visited_on" });
  const method = el("select", { name: "method" }, METHODS.map((m) => el("option", { value: m, selected: m === d.method, text: m })));
  const met = el("input", { type: "checkbox", name: "met", checked: d.met !== false });
  const risk = el("select", { name: "risk" }, RISKS.map((r) => el("option", { value: r, selected: r === d.risk, text: r })));
  const checklist = Object.entries(d.checklist || {}).map(([k, v]) =>
    el("label", { class: "check" }, el("input", { type: "checkbox", "data-item": k, checked: !!v }), k));
  const needs = el("div", {});
  const addNeed = (n) => needs.append(el("div", { class: "row need" },
    el("select", { class: "need-cat" }, CATEGORIES.map((c) => el("option", { value: c, selected: c === n.category, text: c }))),
    el("input", { class: "need-text grow", value: n.text || "", placeholder: "诉求" })));
  (d.needs || []).forEach(addNeed);
  const fus = el("div", {});
  const addFu = (f) => fus.append(el("div", { class: "row fu followup" },
    el("input", { class: "fu-item grow", value: f.item || "", placeholder: "跟进事项" }),
    el("input", { class: "fu-due", type: "date", value: f.due_on || "" })));
  (d.followups || []).forEach(addFu);
  const referral = el("input", { name: "referral", value: d.referral || "", placeholder: "转介给谁（可不填）" });
  const notes = el("textarea", { name: "notes" });
  notes.value = d.notes || "";
  const signs = d.risk_signs || [];
  const form = el("form", { id: "record", class: "card" },
    signs.length ? el("p", { class: "err", text: `发现风险信号：${signs.join("、")}。已标为紧急，保存后站长会马上看到。` }) : null,
    (d.negated_signs || []).length ? el("p", { class: "muted", text: `已排除：${d.negated_signs.join("、")}` }) : null,
    fieldRow("走访日期", date), fieldRow("方式", method),
    el("label", { class: "check" }, met, "见到本人（未遇请取消勾选）"), fieldRow("风险等级", risk),
    checklist.length ? el("div", {}, el("label", { text: "走访清单" }), checklist) : null,
    el("label", { text: "诉求" }), needs, el("button", { type: "button", onclick: () => addNeed({}), text: "+ 诉求" }),
    el("label", { text: "跟进事项" }), fus, el("button", { type: "button", onclick: () => addFu({}), text: "+ 跟进" }),
    fieldRow("转介", referral), fieldRow("记录原文", notes),
    el("button", { type: "submit", class: "primary", style: "width:100%;margin-top:12px", id: "confirm", text: "确认保存" }));
  const collect = () => ({
    client_id: d.client_id, household_id: Number(hid), visited_on: date.value, method: method.value, met: met.checked,
    risk: risk.value, risk_signs: signs, referral: referral.value.trim(), notes: notes.value,
    checklist: Object.fromEntries([...form.querySelectorAll("input[data-item]")].map((i) => [i.dataset.item, i.checked])),
    needs: [...needs.querySelectorAll(".need")].map((r) => ({
      category: r.querySelector(".need-cat").value, text: r.querySelector(".need-text").value.trim() }))
      .filter((n) => n.text),
    followups: [...fus.querySelectorAll(".followup")].map((r) => ({
      item: r.querySelector(".fu-item").value.trim(), due_on: r.querySelector(".fu-due").value }))
      .filter((f) => f.item),
  });
  form.addEventListener("input", () => save(DRAFT(hid), { ...collect(), checklist: collect().checklist, negated_signs: d.negated_signs }));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = collect();
    const box = load(OUTBOX, []).filter((x) => x.body.client_id !== body.client_id);
    box.push({ body, queued_at: new Date().toISOString(), onSentView: `#rec/${hid}` });
    save(OUTBOX, box);
    localStorage.removeItem(NOTE(hid));
    localStorage.removeItem(DRAFT(hid));
    document.getElementById("confirm").disabled = true;
    renderNet();
    if (!navigator.onLine) {
      show(el("div", { class: "card", id: "queued" }, el("p", { class: "ok", text: "记录已保存在手机上。" }),
        el("p", { text: "现在没有网络，联网后会自动发送（重复发送也只算一条）。" }), el("a", { href: "#plan", text: "回到计划" })));
      return;
    }
    await flushOutbox();
    if (load(OUTBOX, []).some((x) => x.body.client_id === body.client_id)) {
      show(el("div", { class: "card", id: "queued" }, el("p", { class: "ok", text: "记录已保存在手机上，稍后自动发送。" }),
        el("a", { href: "#plan", text: "回到计划" })));
    }
  });
  return form;
}

function showSaved(res) {
  const v = res.visit;
  const parts = [el("div", { class: "card", id: "saved" }, el("p", { class: "ok", text: res.created ? "走访记录已保存。" : "这条记录之前已保存过，没有重复保存。" }),
    el("div", { text: `${v.visited_on} ${v.method} · ${v.met ? "见到本人" : "未遇"} · ${v.risk}` }),
    v.followups.length ? el("div", {}, el("h3", { text: "已进入跟进台账" }), v.followups.map((f) => el("div", { class: "fu",
      text: `${f.item}（期限 ${f.due_on || "未定"}）` }))) : null)];
  if (res.emergency) {
    const em = res.emergency;
    parts.unshift(el("div", { class: "sos", id: "sos" }, el("h3", { text: "紧急情况：先确保人身安全" }),
      el("div", { class: "nums" }, em.numbers.map((n) => el("a", { href: `tel:${n.number}`, title: n.name, text: n.number }))),
      el("div", { class: "muted" }, em.numbers.map((n) => el("div", { text: `${n.number}：${n.name}` }))),
      em.steps.map((s) => el("div", { class: "fu" }, el("div", { text: s.answer }), citations(s.citations))),
      em.note ? el("p", { text: em.note }) : null));
  }
  parts.push(el("p", {}, el("a", { href: `#h/${v.household_id}`, text: "← 回到这户" }), " · ", el("a", { href: "#plan", text: "计划" }),
    " · ", el("a", { href: `#write/visit/${v.id}`, id: "make-summary", text: "生成走访小结" })));
  show(parts);
}

function showRecord(hid) {
  const saved = load(DRAFT(hid), null);
  const note = el("textarea", { id: "note", placeholder: "说一说这次走访：可以用手机键盘的语音输入，直接说，不用标点。" });
  note.value = load(NOTE(hid), "");
  note.addEventListener("input", () => save(NOTE(hid), note.value));
  const out = el("div", { id: "draft" });
  const draftIt = async () => {
    out.replaceChildren(el("p", { class: "muted", text: "正在整理…" }));
    try {
      const d = await api("POST", `/api/households/${hid}/capture`, { note: note.value, on: todayShanghai() });
      d.client_id = newId();
      save(DRAFT(hid), d);
      out.replaceChildren(el("p", { class: "muted", text: "请核对下面整理出的记录，改好后确认保存。" }), recordForm(hid, d));
    } catch (e) {
      const d = { client_id: newId(), notes: note.value, visited_on: todayShanghai(), method: "入户", met: true, risk: "正常" };
      out.replaceChildren(errorBox(e), el("p", { class: "muted", text: "也可以直接填写下面的表格。" }), recordForm(hid, d));
    }
  };
  show(el("p", {}, el("a", { href: `#h/${hid}`, text: "← 这户" })),
    el("h2", { text: "走访记录" }), el("div", { class: "card" }, note,
      el("button", { class: "primary", style: "width:100%;margin-top:8px", id: "make-draft", onclick: draftIt,
        text: "整理成记录" })), out);
  if (saved) out.replaceChildren(el("p", { class: "muted", text: "上次没保存的记录（已恢复）：" }), recordForm(hid, saved));
}

// -- follow-ups (台账) -----------------------------------------------------------------------------
async function showFollowups() {
  const token = navToken;
  let items;
  try { items = (await api("GET", "/api/followups")).items; } catch (e) { return render(token, el("h2", { text: "跟进台账" }), errorBox(e)); }
  render(token, el("h2", { text: `跟进台账 · 未关闭 ${items.length} 项` }),
    items.length ? items.map((f) => {
      const closer = el("div", { class: "row" });
      const input = el("input", { class: "grow close-note", placeholder: "处理结果（关闭时必填）" });
      closer.append(input, el("button", {
        class: "close", text: "关闭", onclick: async (ev) => {
          ev.target.disabled = true;
          try {
            await api("POST", `/api/followups/${f.id}/close`, { note: input.value });
            card.replaceChildren(el("p", { class: "ok", text: `已关闭：${f.item}` }));
          } catch (e) { closer.append(errorBox(e)); ev.target.disabled = false; }
        },
      }));
      const card = el("div", { class: "card" + (f.risk === "紧急" ? " urgent" : f.overdue_days ? " overdue" : ""), "data-followup": f.id },
        el("div", { class: "row" }, el("b", { class: "grow", text: f.item }),
          f.risk === "紧急" ? el("span", { class: "badge red", text: "紧急" }) : null,
          f.overdue_days ? el("span", { class: "badge amber", text: `逾期 ${f.overdue_days} 天` }) : null),
        el("div", { class: "muted" }, el("a", { href: `#h/${f.household_id}`, text: `${f.juwei || ""} ${f.address || ""}` }),
          ` · 期限 ${f.due_on || "未定"} · ${f.owner}`), closer);
      return card;
    }) : el("p", { class: "muted", text: "没有未关闭的跟进事项。" }));
}

// -- 数据会说话: the dashboard; every figure opens the households behind it --------------------------
function bar(label, value, max, onclick, note) {
  const pct = max ? Math.round((100 * value) / max) : 0;
  return el("button", { class: "barrow", onclick, "data-figure": label },
    el("span", { class: "barlabel", text: label }),
    el("span", { class: "bartrack" }, el("span", { class: "barfill", style: `width:${pct}%` })),
    el("span", { class: "barvalue", text: note || String(value) }));
}

async function showBoard() {
  const token = navToken;
  let d;
  try { d = await api("GET", "/api/dashboard"); } catch (e) { return render(token, el("h2", { text: "看板" }), errorBox(e)); }
  const list = el("div", { id: "behind" });
  const open = async (metric, tag, worker, title) => {
    list.replaceChildren(el("p", { class: "muted", text: "加载中…" }));
    const q = new URLSearchParams({ metric, tag: tag || "", worker: worker || "" });
    try {
      const items = (await api("GET", `/api/dashboard/households?${q}`)).items;
      list.replaceChildren(el("h2", { text: `${title}（${items.length} 户）` }),
        ...items.map((x) => el("a", { class: "card" + (x.overdue_days > 0 ? " overdue" : ""), href: `#h/${x.household_id}` },
          el("b", { text: `${x.juwei} ${x.address}` }), demoBadge(x.demo), el("div", {}, tags(x.tags)),
          el("div", { class: "reason", text: x.reason }))));
      list.scrollIntoView();
    } catch (e) { list.replaceChildren(errorBox(e)); }
  };
  const defs = (key) => el("details", { class: "muted" }, el("summary", { text: "口径" }), d.definitions[key]);
  const parts = [el("div", { class: "row" }, el("h2", { class: "grow", text: `看板 · ${d.month || ""}` }),
    el("a", { class: "btn", href: "/api/dashboard/export.xlsx", text: "导出 .xlsx" }),
    d.visits !== null ? el("a", { class: "btn", href: "#write/report", id: "board-report", text: "写月报" }) : null)];
  if (d.visits !== null) parts.push(askBox());
  if (d.visits !== null && d.coverage) {
    const maxDue = Math.max(1, ...d.coverage.map((c) => c.due));
    parts.push(el("div", { class: "card" }, el("h3", { text: `本月走访覆盖（${d.scope === "own" ? "我负责的户" : "本辖区"}）` }),
      d.coverage.map((c) => bar(c.tag, c.done, maxDue, () => open("not_done", c.tag, "", `${c.tag}：本月应访未访`),
        `${c.done}/${c.due}`)), defs("coverage")));
    parts.push(el("div", { class: "card row" },
      el("button", { class: "grow", "data-figure": "overdue", onclick: () => open("overdue", "", "", "逾期未访的户"),
        text: `逾期 ${d.overdue} 户` }),
      el("a", { class: "btn grow", href: "#plan", text: `紧急 ${d.urgent} 条` }),
      el("a", { class: "btn grow", href: "#followups", text: `未关闭跟进 ${d.followups.reduce((a, b) => a + b.count, 0)} 项` })));
    if (d.by_worker.length > 1) {
      const maxW = Math.max(1, ...d.by_worker.map((w) => w.due));
      parts.push(el("div", { class: "card" }, el("h3", { text: "按社工" }),
        d.by_worker.map((w) => bar(w.worker, w.done, maxW, () => open("not_done", "", w.worker, `${w.worker}：本月应访未访`),
          `${w.done}/${w.due} · 逾期 ${w.overdue}`))));
    }
    const maxF = Math.max(1, ...d.followups.map((f) => f.count));
    parts.push(el("div", { class: "card" }, el("h3", { text: "未关闭的跟进（按逾期）" }),
      d.followups.map((f) => bar(f.bucket, f.count, maxF, () => { location.hash = "#followups"; })), defs("followups")));
    if (d.needs.length) {
      const maxN = Math.max(1, ...d.needs.map((n) => n.this_month));
      parts.push(el("div", { class: "card" }, el("h3", { text: "诉求（本月，按类别）" }),
        d.needs.map((n) => bar(n.category, n.this_month, maxN, null,
          `${n.this_month}（近月：${n.trend.map((t) => t.count).join("→")}）`)), defs("needs")));
    }
  }
  const kb = d.kb;
  parts.push(el("div", { class: "card" }, el("h3", { text: `知识库使用（近 ${kb.days} 天）` }),
    el("div", { text: `提问 ${kb.asked} 次 · 拒答率 ${kb.refusal_rate === null ? "—" : Math.round(kb.refusal_rate * 100) + "%"} · 👎率 ${kb.thumbs_down_rate === null ? "—" : Math.round(kb.thumbs_down_rate * 100) + "%"}` }),
    kb.unanswered_topics.length ? el("div", {}, el("b", { text: "没答上的话题：" }), kb.unanswered_topics.map((t) => `${t.topic}（${t.count}）`).join("，")) : null,
    kb.most_cited.length ? el("div", { class: "muted", text: "引用最多：" + kb.most_cited.slice(0, 5).map((c) => `《${c.title}》${c.count}`).join("，") }) : null,
    defs("kb")));
  parts.push(list);
  render(token, parts);
}

// 问数: a plain question to the data; the answer says how it was read, and what is behind the figure
function askItem(kind, x) {
  const href = `#h/${x.household_id || x.id}`;
  if (kind === "household") return el("a", { class: "card", href }, el("b", { text: `${x.juwei || ""} ${x.address}` }), demoBadge(x.demo), el("div", {}, tags(x.tags)));
  if (kind === "followup") return el("a", { class: "card", href }, el("b", { text: x.address }), el("div", { text: `${x.item}（提出 ${x.raised_on}，期限 ${x.due_on || "未定"}）` }));
  return el("a", { class: "card", href }, el("b", { text: x.address }), el("div", { text: `${x.visited_on} ${x.method} · ${x.met ? "见到" : "未遇"} · ${x.risk}` }));
}

function askBox() {
  const input = el("input", { id: "ask-q", placeholder: "问数据，例如：上个月哪些高龄老人一次都没走访到？", maxlength: "200" });
  const out = el("div", { id: "ask-out", "aria-live": "polite" });
  const ask = async (question) => {
    input.value = question;
    out.replaceChildren(el("p", { class: "muted", text: "查询中…" }));
    try {
      const a = await api("POST", "/api/ask-data", { question });
      if (a.declined) {
        out.replaceChildren(el("p", { class: "err", text: `没有回答：${a.reason}` }),
          el("div", {}, a.nearest.length ? el("span", { class: "muted", text: "可以这样问：" }) : null,
            a.nearest.map((n) => el("button", { class: "chip", type: "button", onclick: () => ask(n), text: n }))));
        return;
      }
      out.replaceChildren(...[el("p", { class: "answer", id: "ask-answer", text: a.answer }),
        el("p", { class: "muted", id: "ask-reading", text: a.reading }),
        el("details", { class: "muted" }, el("summary", { text: "口径" }), a.definition),
        a.sql ? el("details", { open: true }, el("summary", { text: "查询语句（已检查，只读）" }), el("pre", { text: a.sql })) : null,
        a.rows.length ? el("table", {}, el("tr", {}, a.columns.map((c) => el("th", { text: c }))),
          a.rows.map((r) => el("tr", {}, r.map((v) => el("td", { text: String(v) }))))) : null,
        el("div", { id: "ask-items" }, a.items.map((x) => askItem(a.kind, x))),
        a.count > a.items.length ? el("p", { class: "muted", text: `只列出前 ${a.items.length} 条，共 ${a.count} 条。` }) : null]
        .filter(Boolean));
    } catch (e) { out.replaceChildren(errorBox(e)); }
  };
  const form = el("form", { class: "row", onsubmit: (ev) => { ev.preventDefault(); if (input.value.trim()) ask(input.value.trim()); } },
    input, el("button", { class: "primary", id: "ask-go", type: "submit", text: "问数" }));
  return el("div", { class: "card", id: "ask" }, el("h3", { text: "问数" }), form, out);
}

// -- supervisor: roster import, export, hand-over, extreme weather ----------------------------------
async function postForm(path, form) {
  let r;
  try {
    r = await fetch(path, { method: "POST", credentials: "same-origin", body: form });
  } catch { throw new ApiError(0, "网络不通，请稍后再试。"); }
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiError(r.status, data.detail || `出错了（${r.status}）`);
  return data;
}

function importSummary(p) {
  return el("div", { class: "card", id: "import-preview" },
    el("div", { text: `共 ${p.rows} 行：可导入 ${p.good_rows} 行（${p.good_households} 户：新增 ${p.new_households}，更新 ${p.updated_households}），有错误 ${p.bad_rows} 行。` }),
    el("div", { class: "muted", text: "列的对应：" + p.mapping.map((m) => `${m.column}→${m.field_name}`).join("，") }),
    p.unmapped.length ? el("div", { class: "muted", text: "未使用的列：" + p.unmapped.join("，") }) : null,
    p.errors.map((e) => el("div", { class: "err", text: `第 ${e.row} 行（${e.address} ${e.name}）：${e.errors.join("；")}` })),
    p.message ? el("p", { class: p.imported ? "ok" : "err", text: p.message }) : null);
}

async function showManage() {
  const token = navToken;
  const file = el("input", { type: "file", accept: ".xlsx,.csv", id: "roster-file" });
  const out = el("div", {});
  const send = async (commit, mode) => {
    if (!file.files.length) { out.replaceChildren(el("p", { class: "err", text: "请先选择 .xlsx 或 .csv 文件。" })); return; }
    const form = new FormData();
    form.append("file", file.files[0]);
    form.append("commit", commit ? "true" : "false");
    form.append("mode", mode);
    try { out.replaceChildren(importSummary(await postForm("/api/households/import", form))); } catch (e) { out.replaceChildren(errorBox(e)); }
  };
  const from = el("input", { placeholder: "离开的社工账号" });
  const to = el("input", { placeholder: "接手的社工账号" });
  const hand = el("div", {});
  const weather = await api("GET", "/api/visit-weather").catch(() => ({ on: false, tags: [] }));
  const wNote = el("input", { placeholder: "如：高温橙色预警", value: weather.note || "" });
  const wOut = el("div", {});
  render(token, el("h2", { text: "花名册导入" }),
    el("div", { class: "card" }, el("p", { class: "muted", text: "每人一行；列名如 居委、小区、楼、室、姓名、关系、出生年份、电话、标签、社工。.xls 和 WPS 文件请先另存为 .xlsx。" }),
      file, el("div", { class: "row", style: "margin-top:8px" },
        el("button", { onclick: () => send(false, "good"), text: "预览" }),
        el("button", { class: "primary", onclick: () => send(true, "good"), text: "只导入无误的行" }),
        el("button", { onclick: () => send(true, "all"), text: "全部无误才导入" }))), out,
    el("h2", { text: "导出（默认脱敏）" }),
    el("div", { class: "card row" }, el("a", { class: "btn", href: "/api/households/export.xlsx", text: "户档案 .xlsx" }),
      el("a", { class: "btn", href: "/api/followups/export.xlsx", text: "跟进台账 .xlsx" })),
    el("h2", { text: "社工离岗交接" }),
    el("div", { class: "card" }, from, to, el("button", { style: "margin-top:8px", text: "把他的户全部转给接手的社工", onclick: async () => {
      try { const r = await api("POST", "/api/households/handover", { from_worker: from.value.trim(), to_worker: to.value.trim() });
        hand.replaceChildren(el("p", { class: "ok", text: `已交接 ${r.count} 户。` })); } catch (e) { hand.replaceChildren(errorBox(e)); }
    } }), hand),
    el("h2", { text: "极端天气关爱" }),
    el("div", { class: "card" }, el("p", { text: weather.on ? `已开启：${weather.tags.join("、")}` : "未开启。开启后，所选标签的户今天都要联系。" }), wNote,
      el("div", { class: "row", style: "margin-top:8px" },
        el("button", { class: "danger", text: "开启（独居、高龄等默认标签）", onclick: async () => {
          try { await api("POST", "/api/visit-weather", { on: true, note: wNote.value }); wOut.replaceChildren(el("p", { class: "ok", text: "已开启。" })); } catch (e) { wOut.replaceChildren(errorBox(e)); }
        } }),
        el("button", { text: "关闭", onclick: async () => {
          try { await api("POST", "/api/visit-weather", { on: false }); wOut.replaceChildren(el("p", { class: "ok", text: "已关闭。" })); } catch (e) { wOut.replaceChildren(errorBox(e)); }
        } })), wOut));
}

// -- routing --------------------------------------------------------------------------------------
async function route() {
  navToken++;
  renderNet();
  const h = location.hash || "#plan";
  let m;
  if ((m = h.match(/^#h\/(\d+)$/))) return showHousehold(m[1]);
  if ((m = h.match(/^#rec\/(\d+)$/))) return showRecord(m[1]);
  if (h === "#followups") return showFollowups();
  if (h === "#manage") return showManage();
  if (h === "#board") return showBoard();
  if ((m = h.match(/^#write(?:\/(visit|report))?(?:\/(\d+))?$/))) return showWrite(m[1] || "", m[2]);
  return showPlan();
}

// Signing out clears what this page kept about residents, except records not yet sent.
function signOut(ev) {
  ev.preventDefault();
  const waiting = load(OUTBOX, []).length;
  if (waiting && !confirm(`还有 ${waiting} 条走访记录没有发出，会留在这台手机上，下次登录后继续发送。确定退出？`)) return;
  for (const key of Object.keys(localStorage)) {
    if (key.startsWith("sg.visits.") && key !== OUTBOX) localStorage.removeItem(key);
  }
  location.href = "/logout";
}

window.addEventListener("hashchange", route);
(async () => {
  try { me = await api("GET", "/api/me"); } catch { me = null; }
  if (me && me.auth !== "off") {
    document.querySelector("header#top nav").append(el("a", { href: "/logout", id: "nav-logout", onclick: signOut, text: "退出" }));
  }
  if (me && (me.visit_scope === "all" || me.visit_scope === "region")) {
    document.querySelector("header#top nav").prepend(el("a", { href: "#manage", id: "nav-manage", text: "管理" }));
  }
  if (me && me.visit_scope !== "none") {
    document.querySelector("header#top nav").prepend(el("a", { href: "#board", id: "nav-board", text: "看板" }));
    document.querySelector("#nav-followups").after(el("a", { href: "#write", id: "nav-write", text: "写材料" }));
  }
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/visits/sw.js", { scope: "/visits" }).catch(() => {});
  await route();
  if (navigator.onLine) flushOutbox(); // offline: the "online" event sends the outbox later
})();
