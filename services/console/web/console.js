// The credit-manager console's page (docs/console.md): one page that draws the view its
// path names ("/" the worklist, "/cases/<id>" a case, "/overview" the figures) from the
// JSON API, and keeps it current from the server-sent events of /api/events. Every
// state-changing request carries the CSRF token /api/me gave. Everything is built with DOM
// calls (no innerHTML), so no text from the server is ever parsed as markup.
const app = document.getElementById("app");
let me = null; // /api/me
let events = null; // the EventSource
let view = null; // {name, onEvent(ev)}
const waiting = new Map(); // event_id of a command sent -> the element that shows its answer

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}

function digits(currency) {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

function money(minor, currency) {
  if (minor === null || minor === undefined) return "";
  const d = digits(currency);
  return `${(minor / 10 ** d).toLocaleString("en", { minimumFractionDigits: d, maximumFractionDigits: d })} ${currency}`;
}

function toMinor(text, currency) {
  const v = Number(String(text).replace(",", "."));
  if (!Number.isFinite(v) || v <= 0) return null;
  return Math.round(v * 10 ** digits(currency));
}

function when(ts) {
  if (!ts) return "";
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? String(ts) : d.toISOString().replace("T", " ").slice(0, 16) + " UTC";
}

const STATES = ["open", "pre_due_reminded", "overdue", "final_notice", "retrying", "paused", "promised", "on_plan"];
const ROLE_RANK = { viewer: 0, collector: 1, manager: 2, admin: 3 };
const may = (role) => ROLE_RANK[me.role] >= ROLE_RANK[role];

class ApiError extends Error {
  constructor(status, reason) {
    super(reason);
    this.status = status;
  }
}

async function api(path, body) {
  const opts = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": me ? me.csrf_token : "" },
    body: JSON.stringify(body),
  };
  const r = await fetch(path, { credentials: "same-origin", ...opts });
  let j = null;
  try {
    j = await r.json();
  } catch {
    j = null;
  }
  if (!r.ok) throw new ApiError(r.status, (j && j.error) || `HTTP ${r.status}`);
  return j;
}

function go(path) {
  history.pushState(null, "", path);
  route();
}

// Links inside the page open their view without a reload.
document.addEventListener("click", (e) => {
  const a = e.target.closest && e.target.closest("a[href^='/']");
  if (!a || a.hasAttribute("download") || a.target || e.ctrlKey || e.metaKey || e.shiftKey) return;
  if (a.getAttribute("href").startsWith("/api/")) return;
  e.preventDefault();
  go(a.getAttribute("href"));
});
window.addEventListener("popstate", () => route());

// ---- real time ----

function connectEvents() {
  if (events) return;
  const live = document.getElementById("live");
  events = new EventSource("/api/events");
  events.addEventListener("open", () => {
    live.textContent = "live";
    live.classList.add("on");
  });
  events.addEventListener("error", () => {
    live.textContent = "reconnecting";
    live.classList.remove("on");
  });
  events.addEventListener("case", (m) => {
    let ev;
    try {
      ev = JSON.parse(m.data);
    } catch {
      return;
    }
    const answer = ev.caused_by_event_id && waiting.get(ev.caused_by_event_id);
    if (answer) {
      waiting.delete(ev.caused_by_event_id);
      answer.className = "answer";
      answer.dataset.answer = ev.event_type;
      answer.dataset.state = ev.to_state;
      answer.textContent = `Done: ${ev.event_type.replaceAll("_", " ")}; the case is now ${ev.to_state.replaceAll("_", " ")}.`;
    }
    if (view && view.onEvent) view.onEvent(ev);
  });
}

function disconnectEvents() {
  if (events) events.close();
  events = null;
}

// ---- login ----

function showLogin(message) {
  document.getElementById("top").hidden = true;
  disconnectEvents();
  view = { name: "login" };
  const err = el("p", { class: "error", id: "login-error", role: "alert", hidden: !message }, message || "");
  const form = el("form", { class: "login", id: "login-form" },
    el("h1", {}, "Log in"),
    el("label", { for: "login" }, "Login", el("input", { id: "login", name: "login", autocomplete: "username", required: true })),
    el("label", { for: "password" }, "Password",
      el("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true })),
    err,
    el("button", { type: "submit", class: "primary" }, "Log in"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      me = await api("/api/login", { login: form.login.value, password: form.password.value });
      if (location.pathname === "/login") history.replaceState(null, "", "/");
      started();
    } catch (x) {
      err.hidden = false;
      err.textContent = x.status === 429 ? "Too many failed logins from here; wait a few minutes." : "Wrong login or password.";
      form.password.value = "";
      form.password.focus();
    }
  });
  app.replaceChildren(form);
  form.login.focus();
}

document.getElementById("logout").addEventListener("click", async () => {
  try {
    await api("/api/logout", {});
  } catch {
    // the session is gone either way
  }
  me = null;
  history.pushState(null, "", "/login");
  showLogin("You are logged out.");
});

function started() {
  document.getElementById("top").hidden = false;
  document.getElementById("who").textContent = `${me.login} (${me.role}; ${me.tenants.join(", ")})`;
  connectEvents();
  route();
}

function route() {
  if (!me) return showLogin();
  const p = location.pathname;
  for (const a of document.querySelectorAll("header nav a"))
    a.toggleAttribute("aria-current", false);
  const cur = (n) => document.querySelector(`header nav a[data-nav="${n}"]`).setAttribute("aria-current", "page");
  const m = p.match(/^\/cases\/([^/]+)$/);
  if (m) return showCase(decodeURIComponent(m[1]));
  if (p === "/overview") {
    cur("overview");
    return showOverview();
  }
  cur("worklist");
  return showWorklist();
}

function failure(x) {
  if (x instanceof ApiError && x.status === 401) {
    me = null;
    showLogin("Your session has ended; please log in again.");
    return true;
  }
  return false;
}

// ---- worklist ----

const filters = { tenant: "", state: "", stage: "", promise_due: "", disputed: "", assigned: "", offset: 0, limit: 25 };

function query(extra = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...filters, ...extra })) if (v !== "" && v !== null) q.set(k, v);
  return q.toString();
}

function select(name, label, options, value) {
  return el("label", { for: `f-${name}` }, label,
    el("select", { id: `f-${name}`, name }, ...options.map(([v, t]) => el("option", { value: v, selected: v === value }, t))));
}

function showWorklist() {
  document.title = "Worklist · Dunning console";
  const tenants = me.tenants.includes("*") ? null : me.tenants;
  const form = el("form", { class: "filters", id: "filters", "aria-label": "Filters" },
    tenants
      ? select("tenant", "Tenant", [["", "all"], ...tenants.map((t) => [t, t])], filters.tenant)
      : el("label", { for: "f-tenant" }, "Tenant", el("input", { id: "f-tenant", name: "tenant", value: filters.tenant, size: 12 })),
    select("state", "State", [["", "any"], ...STATES.map((s) => [s, s.replaceAll("_", " ")])], filters.state),
    el("label", { for: "f-stage" }, "Stage", el("input", { id: "f-stage", name: "stage", type: "number", min: 0, max: 20, value: filters.stage, size: 3 })),
    select("promise_due", "Promise due", [["", "any"], ["today", "by today"]], filters.promise_due),
    select("disputed", "Disputed", [["", "any"], ["true", "yes"], ["false", "no"]], filters.disputed),
    select("assigned", "Assigned", [["", "anyone"], ["me", "to me"], ["none", "nobody"]], filters.assigned),
    el("button", { type: "submit", class: "primary" }, "Apply"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    for (const k of ["tenant", "state", "stage", "promise_due", "disputed", "assigned"]) filters[k] = form.elements[k].value.trim();
    filters.offset = 0;
    load();
  });
  const count = el("span", { class: "count", id: "count" }, "");
  const csv = el("a", { class: "button", id: "csv", href: "#", download: "worklist.csv" }, "Export CSV");
  const prev = el("button", { type: "button", id: "prev" }, "Previous");
  const next = el("button", { type: "button", id: "next" }, "Next");
  const status = el("div", { id: "wl-status" });
  const body = el("tbody", { id: "worklist" });
  const table = el("table", { class: "list" },
    el("thead", {}, el("tr", {}, ...["Priority", "Case", "Tenant", "State", "Stage", "Owed", "Overdue", "Assigned", ""].map((h) => el("th", { scope: "col" }, h)))),
    body);
  app.replaceChildren(el("h1", {}, "Worklist"), form, el("div", { class: "toolbar" }, count, prev, next, csv), status, table);
  let page = null;
  prev.addEventListener("click", () => {
    filters.offset = Math.max(0, filters.offset - filters.limit);
    load();
  });
  next.addEventListener("click", () => {
    if (page && page.next_offset !== null) {
      filters.offset = page.next_offset;
      load();
    }
  });
  let seq = 0;
  async function load(flashIds = new Set()) {
    const mine = ++seq;
    csv.href = `/api/worklist?${query({ format: "csv", offset: "", limit: "" })}`;
    try {
      const j = await api(`/api/worklist?${query()}`);
      if (mine !== seq || view.name !== "worklist") return;
      page = j;
      status.replaceChildren();
      const first = j.items.length ? j.offset + 1 : 0;
      count.textContent = `${first}–${j.offset + j.items.length} of ${j.total ?? "?"} open cases (today ${j.today})`;
      prev.disabled = j.offset === 0;
      next.disabled = j.next_offset === null;
      body.replaceChildren(...j.items.map((it) => row(it, flashIds.has(it.case_id))));
      if (!j.items.length) body.append(el("tr", {}, el("td", { colspan: 9, class: "muted", id: "empty" }, "No open cases match.")));
    } catch (x) {
      if (!failure(x)) status.replaceChildren(el("p", { class: "error", role: "alert" }, x.message));
    }
  }
  function row(it, flash) {
    const assign = it.assigned_to === me.login || !may("collector")
      ? null
      : el("button", { type: "button", class: "assign", "data-case": it.case_id }, "Assign to me");
    if (assign) assign.addEventListener("click", async () => {
      assign.disabled = true;
      try {
        await api(`/api/cases/${it.case_id}/actions`, { action: "assign" });
        load();
      } catch (x) {
        if (!failure(x)) status.replaceChildren(el("p", { class: "error", role: "alert" }, x.message));
        assign.disabled = false;
      }
    });
    return el("tr", { "data-case": it.case_id, "data-invoice": it.invoice_id, "data-state": it.state, class: flash ? "flash" : null },
      el("td", { "data-label": "Priority" }, el("span", { class: "prio" }, String(it.priority)),
        el("ul", { class: "reasons" }, ...it.reasons.map((r) => el("li", {}, `${r.text} (${r.points > 0 ? "+" : ""}${r.points})`)))),
      el("td", { "data-label": "Case" }, el("a", { href: `/cases/${it.case_id}` }, it.invoice_number || it.invoice_id),
        el("div", { class: "muted" }, it.customer_id)),
      el("td", { "data-label": "Tenant" }, it.tenant_id),
      el("td", { "data-label": "State" }, el("span", { class: `state ${it.state}` }, it.state.replaceAll("_", " ")),
        it.pause_reason ? el("div", { class: "muted" }, `${it.pause_reason}${it.paused_until ? ` until ${it.paused_until}` : ""}`) : null,
        it.promise_due ? el("div", { class: "muted" }, `promise due ${it.promise_due}`) : null),
      el("td", { "data-label": "Stage", class: "num" }, String(it.stage)),
      el("td", { "data-label": "Owed", class: "num" }, money(it.owed_minor, it.currency)),
      el("td", { "data-label": "Days overdue", class: "num" }, String(it.days_overdue)),
      el("td", { "data-label": "Assigned" }, it.assigned_to || "—"),
      el("td", {}, assign));
  }
  // A case event: reload the page of the list (its order may change), flashing the case.
  let timer = null;
  const changed = new Set();
  view = {
    name: "worklist",
    onEvent(ev) {
      changed.add(ev.case_id);
      clearTimeout(timer);
      timer = setTimeout(() => {
        const ids = new Set(changed);
        changed.clear();
        load(ids);
      }, 200);
    },
  };
  load();
}

// ---- case view ----

function detailText(d) {
  if (!d || typeof d !== "object") return "";
  return Object.entries(d)
    .filter(([k]) => k !== "actor")
    .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`)
    .join("; ");
}

// What was sent, reminder by reminder: the e-mail's subject and text and the SMS's text as
// the sender rendered them (kept when the message left), the letter's PDF from the print
// spool, the call's message from the voice sender's folder.
function sentPanel(c, deliveries) {
  const base = `/api/cases/${encodeURIComponent(c.case_id)}/sent`;
  return el("section", { class: "panel", id: "sent", "aria-label": "What was sent" }, el("h2", {}, "What was sent"),
    el("p", { class: "muted" }, "Each reminder as the sender sent it: the text is the one it rendered and kept when the message left (template named), the letter and the call are the sender's own files."),
    ...deliveries.map((d) => {
      const what = [];
      if (d.channel === "email" || d.channel === "sms") {
        if (d.body === null || d.body === undefined) what.push(el("p", { class: "muted" }, "The text was not kept (sent before texts were kept)."));
        else {
          if (d.channel === "email") what.push(el("p", { class: "subject" }, el("strong", {}, "Subject: "), d.subject || ""));
          what.push(el("pre", { class: "sent-text" }, d.body));
          if (d.template) what.push(el("p", { class: "muted" }, `Template ${d.template}`));
        }
      } else if (d.channel === "letter") {
        what.push(el("a", { class: "button", href: `${base}/${d.event_id}/letter.pdf`, "data-letter": d.event_id }, "Letter PDF"));
      } else if (d.channel === "voice") {
        what.push(el("audio", { controls: "", preload: "none", src: `${base}/${d.event_id}/audio.wav` }),
          el("a", { href: `${base}/${d.event_id}/audio.wav`, "data-audio": d.event_id }, "The call's message (WAV)"));
      }
      return el("article", { class: "sent", "data-event": d.event_id, "data-channel": d.channel },
        el("h3", {}, `${d.channel}, stage ${d.stage}: ${d.status.replaceAll("_", " ")} (${when(d.created_at)})`), ...what);
    }));
}

// A reminder went out and the case is active: "Resend last reminder" (the engine checks again).
function resendable(j) {
  return ["open", "pre_due_reminded", "overdue", "final_notice", "retrying"].includes(j.case.state) &&
    j.timeline.some((t) => ["reminder_emitted", "reminder_fallback", "redial", "reminder_resent"].includes(t.kind) &&
      t.detail && Array.isArray(t.detail.reminders) && t.detail.reminders.length > 0);
}

async function showCase(id) {
  document.title = "Case · Dunning console";
  view = { name: "case", id, onEvent: null };
  const mine = view;
  let formsKey = null; // the state the forms were drawn for
  let j;
  try {
    j = await api(`/api/cases/${encodeURIComponent(id)}`);
  } catch (x) {
    if (failure(x) || view !== mine) return;
    app.replaceChildren(
      el("h1", {}, x.status === 404 ? "Not found" : "Error"),
      el("p", { id: x.status === 404 ? "not-found" : "case-error", class: "error", role: "alert" },
        x.status === 404 ? "There is no such case (or it is not one of your tenants')." : x.message),
      el("p", {}, el("a", { href: "/" }, "Back to the worklist")));
    return;
  }
  if (view !== mine) return;
  const status = el("div", { id: "case-status" });
  const parts = el("div", { id: "case-parts" });
  app.replaceChildren(el("p", {}, el("a", { href: "/" }, "← Worklist")), parts, status);
  draw(j);
  let timer = null;
  mine.onEvent = (ev) => {
    if (ev.case_id !== id) return;
    clearTimeout(timer);
    timer = setTimeout(async () => {
      try {
        const k = await api(`/api/cases/${encodeURIComponent(id)}`);
        if (view === mine) draw(k, true);
      } catch (x) {
        failure(x);
      }
    }, 150);
  };

  function draw(j, flash) {
    const c = j.case, inv = j.invoice || {};
    document.title = `${inv.invoice_number || c.invoice_id} · Dunning console`;
    const facts = [
      ["State", el("span", { class: `state ${c.state}`, id: "case-state", "data-state": c.state }, c.state.replaceAll("_", " "))],
      ["Stage", String(c.stage)],
      ["Owed", money(c.owed_minor, c.currency)],
      ["Outstanding", money(c.outstanding_minor, c.currency)],
      ["Fees / interest", `${money(c.fee_minor, c.currency)} / ${money(c.interest_minor, c.currency)}`],
      ["Invoice", `${inv.invoice_number || c.invoice_id} of ${money(inv.amount_minor, c.currency)}, due ${inv.due_date || "?"}`],
      ["Tenant / customer", `${c.tenant_id} / ${c.customer_id}`],
      ["Assigned to", c.assigned_to || "nobody"],
      ["Next action", c.next_action ? `${c.next_action} at ${when(c.next_action_at)}` : "—"],
    ];
    if (c.pause_reason) facts.push(["Paused", `${c.pause_reason}${c.paused_until ? ` until ${c.paused_until}` : ""}`]);
    if (c.risk_score !== null && c.risk_score !== undefined) facts.push(["Risk score", String(c.risk_score)]);
    const open = !["resolved", "written_off", "handed_over", "cancelled"].includes(c.state);
    // Three parts: the forms are redrawn only when they change, and never moved, so that a
    // live update neither loses what is being typed nor the focus.
    if (!parts.firstChild) parts.append(el("div", { id: "case-head" }), el("div", { id: "case-forms" }), el("div", { id: "case-rest" }));
    const [head, formsBox, rest] = parts.children;
    head.replaceChildren(
      el("h1", { id: "case-title" }, `Case ${inv.invoice_number || c.invoice_id}`),
      el("section", { class: `panel${flash ? " flash" : ""}`, "aria-label": "Summary" },
        el("dl", { class: "facts" }, ...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]))));
    const key = `${open && may("collector")}|${c.state}|${c.assigned_to}|${resendable(j)}`;
    if (key !== formsKey) {
      formsKey = key;
      formsBox.replaceChildren(...(open && may("collector") ? [actions(c, j)] : []));
    }
    rest.replaceChildren(...[
      j.customer_cases.length > 1 ? el("section", { class: "panel" }, el("h2", {}, "The customer's open cases"),
        el("ul", {}, ...j.customer_cases.map((o) => el("li", {},
          o.case_id === c.case_id ? `${o.invoice_id} (this one)` : el("a", { href: `/cases/${o.case_id}` }, o.invoice_id),
          ` ${o.state.replaceAll("_", " ")}, ${money(o.owed_minor, o.currency)}`)))) : null,
      j.promises.length ? el("section", { class: "panel" }, el("h2", {}, "Promises"),
        el("ul", {}, ...j.promises.map((p) => el("li", {}, `${money(p.amount_minor, p.currency)} by ${p.promised_for} (${p.scope}): ${p.state}, paid ${money(p.paid_minor, p.currency)}; by ${p.actor || p.channel}`)))) : null,
      j.deliveries.length ? sentPanel(c, j.deliveries) : null,
      el("section", { class: "panel" },
        el("div", { class: "toolbar" }, el("h2", { class: "count" }, "Timeline"),
          el("a", { class: "button", id: "export-csv", href: `/api/cases/${c.case_id}/timeline.csv`, download: `timeline-${c.case_id}.csv` }, "Export CSV"),
          el("a", { class: "button", id: "export-pdf", href: `/api/cases/${c.case_id}/timeline.pdf`, download: `timeline-${c.case_id}.pdf` }, "Export PDF")),
        el("table", { class: "timeline", id: "timeline" },
          el("thead", {}, el("tr", {}, ...["When", "What", "State", "Stage", "Who", "Detail"].map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}, ...j.timeline.map((t) => el("tr", { "data-kind": t.kind },
            el("td", {}, when(t.at)),
            el("td", {}, t.kind.replaceAll("_", " ")),
            el("td", {}, t.from_state && t.to_state && t.from_state !== t.to_state ? `${t.from_state} → ${t.to_state}` : t.to_state || ""),
            el("td", { class: "num" }, t.stage === null || t.stage === undefined ? "" : String(t.stage)),
            el("td", {}, t.actor),
            el("td", { class: "detail" }, detailText(t.detail)))))))].filter(Boolean));
  }

  // One form per action; each sends one POST and waits for the engine's case event.
  function actions(c, j) {
    const forms = [];
    const form = (name, title, fields, build, opts = {}) => {
      const f = el("form", { id: `act-${name}`, "aria-label": title }, el("h3", {}, title), ...fields,
        el("button", { type: "submit", class: opts.danger ? "danger" : "primary" }, opts.button || title));
      f.addEventListener("submit", async (e) => {
        e.preventDefault();
        const body = build(f);
        if (!body) return;
        if (opts.confirm && !window.confirm(opts.confirm)) return;
        send(f, body);
      });
      forms.push(f);
    };
    const note = (n) => el("label", { for: `${n}-note` }, "Note (optional)", el("textarea", { id: `${n}-note`, name: "note", rows: 2, maxlength: 4000 }));
    const withNote = (f, body) => {
      const t = f.elements.note && f.elements.note.value.trim();
      if (t) body.note = t;
      return body;
    };
    if (c.state !== "paused") {
      form("pause", "Pause or dispute", [
        el("label", { for: "pause-reason" }, "Reason", el("select", { id: "pause-reason", name: "reason" },
          el("option", { value: "dispute" }, "dispute"), el("option", { value: "manual_hold" }, "manual hold"),
          el("option", { value: "promise_to_pay" }, "promise to pay"))),
        el("label", { for: "pause-until" }, "Until (optional)", el("input", { id: "pause-until", name: "until", type: "date" })),
        note("pause")],
      (f) => withNote(f, { action: "pause", reason: f.elements.reason.value, until: f.elements.until.value || null }), { button: "Pause" });
    } else {
      form("resume", "Resume", [el("label", { for: "resume-reason" }, "Reason", el("input", { id: "resume-reason", name: "reason", required: true })), note("resume")],
        (f) => withNote(f, { action: "resume", reason: f.elements.reason.value.trim() }));
    }
    form("promise", "Promise to pay", [
      el("label", { for: "promise-amount" }, `Amount (${c.currency})`, el("input", { id: "promise-amount", name: "amount", inputmode: "decimal", required: true })),
      el("label", { for: "promise-date" }, "Pay by", el("input", { id: "promise-date", name: "date", type: "date", required: true })),
      el("label", { for: "promise-scope" }, "For", el("select", { id: "promise-scope", name: "scope" },
        el("option", { value: "invoice" }, "this invoice"), el("option", { value: "customer" }, "all the customer's cases"))),
      note("promise")],
    (f) => {
      const amount = toMinor(f.elements.amount.value, c.currency);
      if (!amount) return bad(f, "Amount: a positive number.");
      return withNote(f, { action: "promise", amount_minor: amount, promise_date: f.elements.date.value, scope: f.elements.scope.value });
    });
    form("plan", "Payment plan", [
      el("label", { for: "plan-lines" }, "Instalments, one per line: date amount",
        el("textarea", { id: "plan-lines", name: "lines", rows: 3, placeholder: "2026-07-01 100.00", required: true })),
      note("plan")],
    (f) => {
      const inst = [];
      for (const line of f.elements.lines.value.split("\n").map((s) => s.trim()).filter(Boolean)) {
        const [due, amt] = line.split(/\s+/);
        const amount = toMinor(amt, c.currency);
        if (!/^\d{4}-\d{2}-\d{2}$/.test(due || "") || !amount) return bad(f, `Not "date amount": ${line}`);
        inst.push({ due_date: due, amount_minor: amount });
      }
      return inst.length ? withNote(f, { action: "plan", instalments: inst }) : bad(f, "At least one instalment.");
    });
    if (resendable(j)) {
      form("resend", "Resend last reminder", [
        el("label", { for: "resend-channel" }, "Channel", el("select", { id: "resend-channel", name: "channel" },
          el("option", { value: "" }, "as before"), ...["email", "sms", "letter", "voice"].map((ch) => el("option", { value: ch }, ch)))),
        note("resend")],
      (f) => withNote(f, { action: "resend", target_channel: f.elements.channel.value || null }), { button: "Resend" });
    }
    form("note", "Note", [el("label", { for: "note-text" }, "Text", el("textarea", { id: "note-text", name: "text", rows: 3, maxlength: 4000, required: true }))],
      (f) => ({ action: "note", text: f.elements.text.value.trim() }), { button: "Add note" });
    form("assign", c.assigned_to === me.login ? "Unassign" : "Assign to me", [],
      () => ({ action: c.assigned_to === me.login ? "unassign" : "assign" }));
    if (may("manager")) {
      form("credit", "Credit", [el("label", { for: "credit-amount" }, `Amount (${c.currency})`, el("input", { id: "credit-amount", name: "amount", inputmode: "decimal", required: true })), note("credit")],
        (f) => {
          const amount = toMinor(f.elements.amount.value, c.currency);
          return amount ? withNote(f, { action: "credit", amount_minor: amount }) : bad(f, "Amount: a positive number.");
        });
      for (const [a, t] of [["cancel", "Cancel the case"], ["write_off", "Write off"], ["hand_over", "Hand over to collections"]])
        form(a, t, [note(a)], (f) => withNote(f, { action: a }), { danger: true, confirm: `${t}: are you sure?` });
    }
    return el("section", { class: "panel", "aria-label": "Actions" }, el("h2", {}, "Actions"), el("div", { class: "actions" }, ...forms));
  }

  function bad(f, msg) {
    status.replaceChildren(el("p", { class: "error", role: "alert" }, msg));
    return null;
  }

  async function send(f, body) {
    const btn = f.querySelector("button[type=submit]");
    btn.disabled = true;
    const answer = el("p", { class: "pending", id: "answer", role: "status" }, `Sent ${body.action.replaceAll("_", " ")}: waiting for the engine…`);
    status.replaceChildren(answer);
    try {
      const r = await api(`/api/cases/${encodeURIComponent(id)}/actions`, body);
      if (r.event_id) {
        waiting.set(r.event_id, answer);
      } else {
        answer.className = "answer";
        answer.dataset.answer = body.action;
        answer.textContent = `Done: ${body.action}.`;
        const k = await api(`/api/cases/${encodeURIComponent(id)}`);
        if (view === mine) draw(k, true);
        status.replaceChildren(answer);
      }
    } catch (x) {
      if (!failure(x)) {
        answer.className = "error";
        answer.setAttribute("role", "alert");
        answer.textContent = `Not done: ${x.message}`;
      }
    } finally {
      btn.disabled = false;
    }
  }
}

// ---- overview ----

// Each figure with its definition (the same words as docs/console.md#overview).
const DEFS = {
  aging: "Open receivables: the outstanding principal of the open cases (not resolved, written off or handed over), by days past the invoice's due date on the dunning clock's today; current = not yet due.",
  dso: "Days sales outstanding = open receivables ÷ the invoices issued in the last N days × N. Best possible DSO = the current (not yet due) receivables ÷ the same sales × N: what DSO would be if nothing were overdue.",
  cei: "Collection effectiveness index over the period = (receivables at its start + invoices issued in it − receivables at its end) ÷ (receivables at its start + invoices issued in it − current receivables at its end) × 100. Receivables at a moment: each case's last outstanding amount in the audit trail before it, if the case was open then.",
  promises: "Promises due today: open promises to pay whose date is today. Promise-kept rate: of the promises due in the period that are closed, the share kept in full (partially kept and broken count against it; withdrawn ones not at all).",
  reminders: "Reminders emitted in the period, per channel, and what their delivery came to: delivered; failed (permanently, or the recipient unreached); suppressed (e.g. quiet hours, opted out); pending (no final outcome yet).",
  lag: "For the engine's consumer group and each sender's: the records on its topics it has not yet processed now, the sum over every partition of (the partition's high watermark − the group's committed offset; a partition without one counts what the topic retains). Not per tenant: the pipeline's backlog. Read from the broker (librdkafka) when the page loads.",
  dead: "Input records or reminders a service could not handle and set aside on the dead-letter topic, in the period, by the service, the topic the record came from and the error code (the console reads the topic from its start when it starts; it keeps the last 200,000).",
  recovery: "Per stage and channel: the cases reminded in the period, and how many of them were paid in full (resolved as paid) within 7 and 14 days after that reminder.",
};

function pct(x) {
  return x === null || x === undefined ? "—" : `${(x * 100).toFixed(1)} %`;
}

function table(id, heads, rows) {
  return el("table", { class: "list", id },
    el("thead", {}, el("tr", {}, ...heads.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, ...(rows.length ? rows.map((r) => el("tr", {}, ...r.map((v, i) => el("td", { "data-label": heads[i], class: typeof v === "number" || /^[\d.,\s−-]+( [A-Z]{3}| %)?$/.test(v) ? "num" : null }, String(v))))) :
      [el("tr", {}, el("td", { colspan: heads.length, class: "muted" }, "None."))])));
}

function kpi(id, title, def, ...body) {
  return el("section", { class: "panel", id, "aria-label": title }, el("h2", {}, title), ...body, el("p", { class: "def" }, def));
}

const period = { from: "", to: "", dso_days: "90" };

async function showOverview() {
  document.title = "Overview · Dunning console";
  const mine = (view = { name: "overview" });
  const form = el("form", { class: "filters", id: "period", "aria-label": "Period" },
    el("label", { for: "p-from" }, "From", el("input", { id: "p-from", name: "from", type: "date", value: period.from })),
    el("label", { for: "p-to" }, "To", el("input", { id: "p-to", name: "to", type: "date", value: period.to })),
    el("label", { for: "p-days" }, "DSO over the last … days", el("input", { id: "p-days", name: "dso_days", type: "number", min: 1, max: 730, value: period.dso_days })),
    el("button", { type: "submit", class: "primary" }, "Show"));
  const out = el("div", { class: "kpis", id: "kpis" });
  const status = el("div");
  app.replaceChildren(el("h1", {}, "Overview"), form, status, out);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    for (const k of ["from", "to", "dso_days"]) period[k] = form.elements[k].value;
    load();
  });
  async function load() {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(period)) if (v) q.set(k, v);
    try {
      const o = await api(`/api/overview?${q}`);
      if (view !== mine) return;
      status.replaceChildren(el("p", { class: "muted", id: "period-shown" }, `Period ${o.from} to ${o.to}; today ${o.today}.`));
      form.elements.from.value = o.from;
      form.elements.to.value = o.to;
      out.replaceChildren(
        kpi("k-aging", "Open receivables by age", DEFS.aging,
          table("aging", ["Currency", "Bucket", "Cases", "Outstanding"], o.aging.map((a) => [a.currency, a.bucket, a.cases, money(a.outstanding_minor, a.currency)]))),
        kpi("k-dso", `DSO (last ${o.dso_days} days)`, DEFS.dso,
          table("dso", ["Currency", "DSO", "Best possible", "Receivables", "Sales"], o.dso.map((d) => [d.currency, d.dso === null ? "—" : d.dso.toFixed(1), d.best_possible_dso === null ? "—" : d.best_possible_dso.toFixed(1), money(d.receivables_minor, d.currency), money(d.sales_minor, d.currency)]))),
        kpi("k-cei", "Collection effectiveness index", DEFS.cei,
          table("cei", ["Currency", "CEI", "At start", "Issued", "At end", "Current at end"], o.cei.map((c) => [c.currency, c.cei === null ? "—" : `${c.cei.toFixed(1)} %`, money(c.beginning_minor, c.currency), money(c.sales_minor, c.currency), money(c.ending_minor, c.currency), money(c.ending_current_minor, c.currency)]))),
        kpi("k-promises", "Promises", DEFS.promises,
          table("promises-today", ["Currency", "Due today", "Amount"], o.promises_due_today.map((p) => [p.currency, p.promises, money(p.amount_minor, p.currency)])),
          el("p", {}, "Kept: ", el("span", { class: "big", id: "kept-rate" }, pct(o.promise_kept.rate)),
            ` (${o.promise_kept.kept} kept, ${o.promise_kept.partially_kept} partially, ${o.promise_kept.broken} broken)`)),
        kpi("k-reminders", "Reminders by channel", DEFS.reminders,
          table("reminders", ["Channel", "Sent", "Delivered", "Failed", "Suppressed", "Pending"], o.reminders.map((r) => [r.channel, r.sent, r.delivered, r.failed, r.suppressed, r.pending]))),
        kpi("k-recovery", "Recovery by stage and channel", DEFS.recovery,
          table("recovery", ["Stage", "Channel", "Reminded", "Paid ≤ 7 d", "Paid ≤ 14 d"], o.recovery.map((r) => [r.stage, r.channel, r.reminded, `${r.paid_7d} (${pct(r.share_7d)})`, `${r.paid_14d} (${pct(r.share_14d)})`]))),
        kpi("k-dead", "Dead letters", DEFS.dead,
          table("dead-letters", ["Service", "From topic", "Error", "Count"], o.dead_letters.groups.map((g) => [g.service, g.source_topic, g.error_code, g.count])),
          o.dead_letters.dropped ? el("p", { class: "muted" }, `${o.dead_letters.dropped} older ones are no longer counted.`) : null),
        kpi("k-lag", "Consumer lag", DEFS.lag,
          table("consumer-lag", ["Consumer group", "Records waiting", "Partitions"], (o.consumer_lag || []).map((g) => [g.group, g.lag === null ? `not read: ${g.error}` : g.lag, g.lag === null ? "" : g.partitions]))));
    } catch (x) {
      if (!failure(x)) status.replaceChildren(el("p", { class: "error", role: "alert" }, x.message));
    }
  }
  let timer = null;
  mine.onEvent = () => {
    clearTimeout(timer);
    timer = setTimeout(load, 1000);
  };
  load();
}

// ---- start ----

(async () => {
  try {
    me = await api("/api/me");
    started();
  } catch (x) {
    showLogin();
  }
})();
