// The portal page: reads the link's token from the path (/p/<token>), shows the customer's
// open invoices from /api/p/<token>, and sends one action at a time with the form token the
// overview gave (single use). Everything is built with DOM calls (no innerHTML), so no text
// from the server is ever parsed as markup.
const TEXT = {
  en: {
    title: "Your open invoices", hello: (n) => (n ? `Hello ${n},` : "Hello,"),
    none: "You have no open invoices with us.", invalid: "This link is not valid or has expired.",
    number: "Invoice", due: "due", outstanding: "Outstanding", fees: "Fees", interest: "Interest", total: "Total due",
    reminders: (n) => `${n} reminder(s) sent`, pay: "Pay now", promise: "Promise to pay", dispute: "Dispute",
    paid: "I have already paid", date: "I will pay by", send: "Send", reason: "Reason", text: "Your message",
    note: "Payment details (date, reference)", promised: (d) => `Promised for ${d}`, paused: "On hold",
    offer: (t, d) => `Pay ${t} by ${d} and the invoice is settled in full.`,
    reasons: { not_received: "Goods or service not received", wrong_amount: "Wrong amount", already_paid: "Already paid", quality: "Quality problem", other: "Other" },
    sent: "Sent. Waiting for the answer…", answered: "Done:", expires: (d) => `This link is valid until ${d}.`,
    kinds: { promise_made: "your promise to pay is recorded", paused: "the invoice is on hold while we look into it", payment_claimed: "we will check for your payment", plan_agreed: "your instalment plan is agreed", plan_requested: "your request for an instalment plan is with our team for approval", preferences_changed: "your contact preferences are saved" },
    plan: "Pay in instalments", instalments: (n) => `${n} instalments`, approval: "needs our team's approval",
    onPlan: "On an instalment plan", planPending: "Instalment plan requested, waiting for approval",
    instalment: (k, n) => `Instalment ${k} of ${n}`, letter: (d) => `Letter of ${d} (PDF)`, noAnswer: "No answer yet. Please reload the page later.",
    prefs: "Contact preferences", noSms: "No text messages (SMS)", noCalls: "No phone calls",
    emailNow: (m, c) => `Reminders go by e-mail to ${m}${c ? " (the address you gave us)" : ""}.`, emailNew: "Correct my e-mail address",
    save: "Save preferences", prefsNote: "We will still write to you by e-mail or post about your open invoices.",
  },
  de: {
    title: "Ihre offenen Rechnungen", hello: (n) => (n ? `Guten Tag ${n},` : "Guten Tag,"),
    none: "Sie haben keine offenen Rechnungen bei uns.", invalid: "Dieser Link ist ungültig oder abgelaufen.",
    number: "Rechnung", due: "fällig am", outstanding: "Offen", fees: "Gebühren", interest: "Zinsen", total: "Gesamt fällig",
    reminders: (n) => `${n} Erinnerung(en) versandt`, pay: "Jetzt bezahlen", promise: "Zahlung zusagen", dispute: "Einspruch",
    paid: "Ich habe bereits bezahlt", date: "Ich zahle bis", send: "Senden", reason: "Grund", text: "Ihre Nachricht",
    note: "Zahlungsangaben (Datum, Verwendungszweck)", promised: (d) => `Zugesagt für ${d}`, paused: "Angehalten",
    offer: (t, d) => `Zahlen Sie ${t} bis ${d}, und die Rechnung ist vollständig beglichen.`,
    reasons: { not_received: "Ware oder Leistung nicht erhalten", wrong_amount: "Falscher Betrag", already_paid: "Bereits bezahlt", quality: "Mangel", other: "Sonstiges" },
    sent: "Gesendet. Wir warten auf die Antwort…", answered: "Erledigt:", expires: (d) => `Dieser Link gilt bis ${d}.`,
    kinds: { promise_made: "Ihre Zahlungszusage ist erfasst", paused: "die Rechnung ruht, während wir sie prüfen", payment_claimed: "wir prüfen den Zahlungseingang", plan_agreed: "Ihre Ratenzahlung ist vereinbart", plan_requested: "Ihr Wunsch nach Ratenzahlung liegt unserem Team zur Freigabe vor", preferences_changed: "Ihre Kontaktwünsche sind gespeichert" },
    plan: "In Raten zahlen", instalments: (n) => `${n} Raten`, approval: "muss von unserem Team freigegeben werden",
    onPlan: "Ratenzahlung vereinbart", planPending: "Ratenzahlung beantragt, wartet auf Freigabe",
    instalment: (k, n) => `Rate ${k} von ${n}`, letter: (d) => `Brief vom ${d} (PDF)`, noAnswer: "Noch keine Antwort. Bitte laden Sie die Seite später neu.",
    prefs: "Kontaktwünsche", noSms: "Keine Textnachrichten (SMS)", noCalls: "Keine Anrufe",
    emailNow: (m, c) => `Erinnerungen gehen per E-Mail an ${m}${c ? " (die von Ihnen angegebene Adresse)" : ""}.`, emailNew: "Meine E-Mail-Adresse korrigieren",
    save: "Wünsche speichern", prefsNote: "Zu Ihren offenen Rechnungen schreiben wir Ihnen weiterhin per E-Mail oder Post.",
  },
};
const token = location.pathname.split("/")[2] || "";
const app = document.getElementById("app");
let T = TEXT.en;
let form = "";

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
}

function money(minor, currency, locale) {
  const f = new Intl.NumberFormat(locale, { style: "currency", currency });
  const digits = f.resolvedOptions().maximumFractionDigits;
  return f.format(minor / 10 ** digits);
}

// An ISO date (YYYY-MM-DD) as the customer's locale writes it.
function day(iso, locale) {
  return new Date(`${iso}T12:00:00Z`).toLocaleDateString(locale, { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
}

async function api(path, body) {
  const opts = body ? { method: "POST", headers: { "Content-Type": "application/json", "X-Form-Token": form }, body: JSON.stringify(body) } : {};
  const r = await fetch(`/api/p/${token}${path}`, opts);
  let j = {};
  try { j = await r.json(); } catch (e) { j = {}; }
  return { status: r.status, body: j };
}

async function waitAnswer(box, id) {
  for (let i = 0; i < 60; i++) {
    const r = await api(`/answers/${id}`);
    if (r.status === 200 && r.body.status === "answered") {
      const kinds = [...new Set(r.body.answers.map((a) => a.kind))]; // one per kind (several cases answer)
      const words = kinds.map((k) => T.kinds[k] || k).join("; ");
      box.replaceChildren(el("p", { class: "answer", "data-answer": kinds.join(" ") }, `${T.answered} ${words}`));
      setTimeout(load, 1500);
      return;
    }
    await new Promise((res) => setTimeout(res, 500));
  }
  box.append(el("p", { class: "error", id: "no-answer" }, T.noAnswer));
}

async function send(box, path, body) {
  const r = await api(path, body);
  if (r.status !== 202) {
    box.append(el("p", { class: "error" }, r.body.error || String(r.status)));
    return;
  }
  box.replaceChildren(el("p", { class: "note", id: "sent" }, T.sent));
  waitAnswer(box, r.body.command_id);
}

function actionForm(kind, inv, box, today, maxDays, locale) {
  const f = el("form", { id: `${kind}-${inv.invoice_id}` });
  if (kind === "promise") {
    const max = new Date(Date.parse(today) + maxDays * 86400000).toISOString().slice(0, 10);
    f.append(el("label", { for: `date-${inv.invoice_id}` }, T.date), el("input", { type: "date", id: `date-${inv.invoice_id}`, name: "date", min: today, max, required: "" }));
  } else if (kind === "dispute") {
    const sel = el("select", { name: "reason", id: `reason-${inv.invoice_id}` });
    for (const [k, v] of Object.entries(T.reasons)) sel.append(el("option", { value: k }, v));
    f.append(el("label", { for: `reason-${inv.invoice_id}` }, T.reason), sel, el("label", {}, T.text), el("textarea", { name: "text", maxlength: "1000", rows: "4" }));
  } else if (kind === "plan") {
    const m = (v) => money(v, inv.currency, locale);
    inv.plans.forEach((pl, i) => {
      const id = `plan-${inv.invoice_id}-${pl.count}`;
      const lines = pl.instalments.map((x) => el("li", {}, `${day(x.due_date, locale)}: ${m(x.amount_minor)}`));
      f.append(el("div", { class: "plan-offer" },
        el("input", Object.assign({ type: "radio", name: "count", value: String(pl.count), id }, i === 0 ? { checked: "" } : {})),
        el("label", { for: id }, `${T.instalments(pl.count)}: ${m(pl.total_minor)}${pl.auto_approved ? "" : ` (${T.approval})`}`),
        el("ol", { class: "plan-dates", "data-count": String(pl.count) }, ...lines)));
    });
  } else {
    f.append(el("label", {}, T.note), el("textarea", { name: "note", maxlength: "1000", rows: "3" }));
  }
  f.append(el("button", { type: "submit" }, T.send));
  f.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const d = Object.fromEntries(new FormData(f).entries());
    d.invoice_id = inv.invoice_id;
    if (d.count) d.count = Number(d.count);
    send(box, kind === "paid" ? "/claim-paid" : `/${kind}`, d);
  });
  box.replaceChildren(f);
}

function invoiceCard(inv, data) {
  const loc = data.locale === "de" ? "de-DE" : "en-GB";
  const m = (v) => money(v, inv.currency, loc);
  const rows = [[T.outstanding, inv.outstanding_minor]];
  if (inv.fee_minor) rows.push([T.fees, inv.fee_minor]);
  if (inv.interest_minor) rows.push([T.interest, inv.interest_minor]);
  const table = el("table", { class: "amounts" }, ...rows.map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", { class: "num" }, m(v)))),
    el("tr", { class: "total" }, el("td", {}, T.total), el("td", { class: "num", "data-total": String(inv.total_due_minor) }, m(inv.total_due_minor))));
  const box = el("div", { class: "form-box" });
  const letters = (inv.letters || []).length ? el("ul", { class: "letters" }, ...inv.letters.map((l) =>
    el("li", {}, el("a", { href: `/api/p/${token}/letters/${l.id}`, download: "", "data-letter": l.id }, T.letter(day(l.sent_at.slice(0, 10), loc)))))) : "";
  const actions = el("div", { class: "actions" });
  if (inv.pay_url) actions.append(el("a", { class: "pay", href: inv.pay_url, rel: "noreferrer" }, T.pay));
  const kinds = [["promise", T.promise], ["dispute", T.dispute], ["paid", T.paid]];
  if (inv.plans && inv.plans.length) kinds.splice(1, 0, ["plan", T.plan]);
  for (const [kind, label] of kinds)
    actions.append(el("button", { type: "button", id: `${kind}-open-${inv.invoice_id}`, onclick: () => actionForm(kind, inv, box, data.today, data.promise_max_days, loc) }, label));
  const status = [];
  if (inv.promised_for) status.push(T.promised(day(inv.promised_for, loc)));
  if (inv.paused) status.push(T.paused);
  if (inv.offer) status.push(T.offer(m(inv.offer.total_minor), day(inv.offer.until, loc)));
  if (inv.plan) status.push(inv.plan.state === "active" ? T.onPlan : T.planPending);
  const plan = inv.plan ? el("ol", { class: "plan-dates", id: `current-plan-${inv.invoice_id}`, "data-state": inv.plan.state },
    ...(inv.plan.instalments || []).map((x) => el("li", {}, `${T.instalment(x.number, inv.plan.instalments.length)}: ${day(x.due_date, loc)}, ${m(x.amount_minor)}`))) : "";
  return el("section", { class: "invoice", "data-invoice": inv.invoice_id, "data-state": inv.state },
    el("h2", {}, `${T.number} ${inv.number}`),
    el("p", { class: "note" }, `${T.due} ${day(inv.due_date, loc)} · ${T.reminders(inv.reminders_sent)}${status.length ? " · " + status.join(" · ") : ""}`),
    table, plan, letters, actions, box);
}

// The customer's contact preferences: two checkboxes and a corrected address, sent as one
// action (the wanted state; the portal sends the engine what changes).
function prefsSection(d) {
  const p = d.preferences;
  const box = el("div", { class: "form-box", id: "prefs-box" });
  const check = (id, name, label, on) => el("div", { class: "check" },
    el("input", Object.assign({ type: "checkbox", id, name }, on ? { checked: "" } : {})), el("label", { for: id }, label));
  const f = el("form", { id: "prefs-form" },
    check("no-sms", "no_sms", T.noSms, p.no_sms), check("no-calls", "no_calls", T.noCalls, p.no_calls),
    p.email_masked ? el("p", { class: "note", id: "email-now" }, T.emailNow(p.email_masked, p.email_corrected)) : "",
    el("label", { for: "email-new" }, T.emailNew),
    el("input", { type: "email", id: "email-new", name: "email", autocomplete: "email", maxlength: "254" }),
    el("p", { class: "note" }, T.prefsNote),
    el("button", { type: "submit", id: "prefs-save" }, T.save));
  f.addEventListener("submit", (ev) => {
    ev.preventDefault();
    box.querySelectorAll(".error").forEach((e) => e.remove());
    send(box, "/preferences", { invoice_id: d.invoices[0].invoice_id, no_sms: f.elements.no_sms.checked,
      no_calls: f.elements.no_calls.checked, email: f.elements.email.value.trim() });
  });
  box.append(f);
  return el("section", { class: "prefs", id: "prefs", "data-opted-out": p.opted_out.join(" ") }, el("h2", {}, T.prefs), box);
}

async function load() {
  const r = await api("");
  if (r.status !== 200) {
    app.replaceChildren(el("p", { class: "error", id: "invalid" }, r.status === 404 ? TEXT.en.invalid + " / " + TEXT.de.invalid : r.body.error || String(r.status)));
    return;
  }
  const d = r.body;
  T = TEXT[d.locale] || TEXT.en;
  document.documentElement.lang = d.locale;
  document.title = T.title;
  form = d.form_token;
  app.replaceChildren(el("h1", {}, T.title), el("p", {}, T.hello(d.customer_name)),
    ...(d.invoices.length ? d.invoices.map((inv) => invoiceCard(inv, d)) : [el("p", {}, T.none)]),
    d.invoices.length && d.preferences ? prefsSection(d) : "",
    el("p", { class: "note" }, T.expires(day(d.link_expires_at.slice(0, 10), d.locale === "de" ? "de-DE" : "en-GB"))));
}

load();
