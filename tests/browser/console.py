"""The console in Chromium: console.py URL LOGIN_A LOGIN_B PASSWORD SHOTS_DIR SIGNAL_DIR.

Logs in as LOGIN_A (a collector of tenant A) and waits on the open worklist; writes
SIGNAL_DIR/ready, upon which the test publishes the invoices and moves the clock; sees
case A1 appear on the worklist without a reload (the page keeps a marker that a reload
would lose); opens it; pauses it for a dispute from the page and sees the engine's answer
and the new state without a reload; looks at the worklist 390px wide; logs out; logs in as
LOGIN_B (tenant B) and finds only B's case, and A1's URL says not found. On the case view
also: the timeline's CSV and PDF export links (fetched with the session), the e-mail
sent under "What was sent", and "Resend last reminder" with the engine's answer and a
second delivered e-mail; on the overview, the consumer lag of every group. Writes
SIGNAL_DIR/case_id (A1's case id). A screenshot of every page goes to SHOTS_DIR."""
import os
import sys

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from browser import expect, fail, start, wait  # noqa: E402

url, login_a, login_b, password, shots, signal = sys.argv[1:7]
os.makedirs(shots, exist_ok=True)
shot = lambda d, name: d.save_screenshot(os.path.join(shots, f"console-{name}.png"))  # noqa: E731
rows = lambda d: d.find_elements(By.CSS_SELECTOR, "#worklist tr[data-invoice]")  # noqa: E731
live = lambda d: d.find_element(By.ID, "live").text == "live"  # noqa: E731
body = lambda d: d.find_element(By.TAG_NAME, "body").text  # noqa: E731


def click(d, what, find):
    """Clicks what find(d) finds, again if the page redrew it meanwhile (a live page)."""
    wait(d, what, lambda d: find(d).click() or True)


def log_in(d, login):
    form = wait(d, "the login form", lambda d: d.find_elements(By.ID, "login-form"))[0]
    form.find_element(By.ID, "login").send_keys(login)
    form.find_element(By.ID, "password").send_keys(password)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(d, "the worklist after the login", lambda d: d.find_elements(By.ID, "count") and
         d.find_element(By.ID, "count").text)
    wait(d, "the event stream open", live)
    expect(d.find_element(By.ID, "who").text.split(" ")[0], login, "the user shown")


d = start()
try:
    d.get(url + "/")
    wait(d, "the login form", lambda d: d.find_elements(By.ID, "login-form"))
    shot(d, "1-login")
    # A wrong password: refused on the page.
    d.find_element(By.ID, "login").send_keys(login_a)
    d.find_element(By.ID, "password").send_keys("not-the-password")
    d.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    err = wait(d, "the refusal", lambda d: [e for e in d.find_elements(By.ID, "login-error") if e.is_displayed()])[0]
    expect(err.text, "Wrong login or password.", "the refusal's text")
    d.find_element(By.ID, "login").clear()
    log_in(d, login_a)
    expect(len(rows(d)), 0, "cases on the worklist before any invoice")
    shot(d, "2-worklist-empty")
    d.execute_script("window.__noReload = 1")
    open(os.path.join(signal, "ready"), "w").close()

    # The case appears without a reload (the engine's events reach the page).
    wait(d, "A1 on the worklist", lambda d: [r for r in rows(d) if r.get_attribute("data-invoice") == "A1"], timeout=60)
    expect(d.execute_script("return window.__noReload"), 1, "the page was not reloaded")
    seen = wait(d, "tenant A's worklist", lambda d: [(r.get_attribute("data-invoice"), r.get_attribute("data-case"), r.text)
                                                      for r in rows(d)])
    expect([x[0] for x in seen], ["A1"], "tenant A's worklist")
    _, case_id, text = seen[0]
    with open(os.path.join(signal, "case_id"), "w") as f:
        f.write(case_id)
    if "N-A1" not in text or "120.00 EUR" not in text:
        fail(f"A1's row does not show its number and amount: {text!r}")
    shot(d, "3-worklist-case")

    # The case view.
    click(d, "A1's link", lambda d: d.find_element(By.CSS_SELECTOR, f'#worklist tr[data-case="{case_id}"] a'))
    state = wait(d, "the case view", lambda d: d.find_elements(By.ID, "case-state"))[0]
    expect(d.current_url, f"{url}/cases/{case_id}", "the case's URL")
    expect(d.find_element(By.ID, "case-title").text, "Case N-A1", "the case's title")
    before = state.get_attribute("data-state")
    if before == "paused":
        fail("A1 is paused before the pause")
    kinds = [r.get_attribute("data-kind") for r in d.find_elements(By.CSS_SELECTOR, "#timeline tbody tr")]
    if "opened" not in kinds:
        fail(f"the timeline has no 'opened' row: {kinds}")
    shot(d, "4-case")

    # The timeline's exports: CSV and PDF links that the browser can fetch with its session.
    expect(d.find_element(By.ID, "export-csv").get_attribute("href"), f"{url}/api/cases/{case_id}/timeline.csv",
           "the CSV export's link")
    expect(d.find_element(By.ID, "export-pdf").get_attribute("href"), f"{url}/api/cases/{case_id}/timeline.pdf",
           "the PDF export's link")
    got = d.execute_async_script("""const done = arguments[arguments.length - 1];
        Promise.all(["csv", "pdf"].map((f) => fetch(`/api/cases/${arguments[0]}/timeline.${f}`)
          .then(async (r) => `${r.status} ${r.headers.get("content-type")} ${(await r.text()).slice(0, 5)}`)))
          .then(done, (e) => done(String(e)));""", case_id)
    expect(got, ["200 text/csv; charset=utf-8 at,so", "200 application/pdf %PDF-"], "the exports fetched")

    # What was sent: the first reminder's e-mail, subject and text, once sender-email delivered it.
    sent = lambda d: d.find_elements(By.CSS_SELECTOR, '#sent article[data-channel="email"]')  # noqa: E731
    wait(d, "the e-mail under What was sent", lambda d: [a for a in sent(d) if "Subject:" in a.text and
         "delivered" in a.text], timeout=30, detail=lambda: body(d))
    text = sent(d)[0].find_element(By.CSS_SELECTOR, "pre.sent-text").text
    if "N-A1" not in text:
        fail(f"the e-mail's text does not name the invoice: {text!r}")
    d.execute_script("document.getElementById('sent').scrollIntoView()")
    shot(d, "11-case-sent")

    # Resend the last reminder from the page: the engine's answer, a second e-mail delivered.
    d.execute_script("window.scrollTo(0, 0)")
    form = wait(d, "the resend form", lambda d: d.find_elements(By.ID, "act-resend"))[0]
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    ans = wait(d, "the engine's answer to the resend",
               lambda d: d.find_elements(By.CSS_SELECTOR, "p.answer[data-answer]"), timeout=30)[0]
    expect(ans.get_attribute("data-answer"), "reminder_resent", "the answer's event")
    expect(ans.text, "Done: reminder resent; the case is now overdue.", "the answer's text")
    wait(d, "the resend in the timeline", lambda d: "reminder_resent" in
         [r.get_attribute("data-kind") for r in d.find_elements(By.CSS_SELECTOR, "#timeline tbody tr")])
    wait(d, "the second e-mail delivered", lambda d: len([a for a in sent(d) if "delivered" in a.text]) == 2,
         timeout=30, detail=lambda: d.find_element(By.ID, "sent").text)
    expect(d.execute_script("return window.__noReload"), 1, "the page was not reloaded")
    d.execute_script("document.getElementById('sent').scrollIntoView()")
    shot(d, "12-case-resent")

    # Pause for a dispute, until 2026-03-20, from the page.
    form = d.find_element(By.ID, "act-pause")
    Select(form.find_element(By.ID, "pause-reason")).select_by_value("dispute")
    d.execute_script("arguments[0].value = arguments[1]", form.find_element(By.ID, "pause-until"), "2026-03-20")
    form.find_element(By.ID, "pause-note").send_keys("Customer disputes the quantity.")
    # A live update of the page (the reminder's delivery, say) must not take what was typed.
    expect(d.find_element(By.ID, "pause-note").get_attribute("value"), "Customer disputes the quantity.",
           "the note typed into the form")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    ans = wait(d, "the engine's answer to the pause",
               lambda d: d.find_elements(By.CSS_SELECTOR, "p.answer[data-answer]"), timeout=30)[0]
    expect(ans.get_attribute("data-answer"), "paused", "the answer's event")
    expect(ans.get_attribute("data-state"), "paused", "the answer's state")
    wait(d, "the state shown as paused", lambda d: d.find_element(By.ID, "case-state").get_attribute("data-state") ==
         "paused", timeout=2, detail=lambda: d.find_element(By.ID, "case-state").text)
    expect(d.execute_script("return window.__noReload"), 1, "the page was not reloaded")
    if "dispute until 2026-03-20" not in body(d):
        fail("the case view does not show the dispute until 2026-03-20")
    wait(d, "the pause in the timeline", lambda d: "paused" in
         [r.get_attribute("data-kind") for r in d.find_elements(By.CSS_SELECTOR, "#timeline tbody tr")])
    wait(d, "the note in the timeline", lambda d: "Customer disputes the quantity." in
         d.find_element(By.ID, "timeline").text)
    shot(d, "5-case-paused")

    # The worklist shows the pause too; phone-sized, nothing wider than the screen.
    click(d, "the worklist's link", lambda d: d.find_element(By.CSS_SELECTOR, "header nav a[data-nav=worklist]"))
    wait(d, "A1 paused on the worklist", lambda d: [r for r in rows(d) if r.get_attribute("data-state") == "paused"])
    d.set_window_size(390, 844)
    wait(d, "the narrow layout", lambda d: d.execute_script("return document.documentElement.clientWidth") <= 390)
    sw = d.execute_script("return document.documentElement.scrollWidth")
    if sw > 390:
        fail(f"the worklist is {sw}px wide on a 390px screen")
    shot(d, "6-phone-worklist")
    d.set_window_size(1280, 1000)

    # The overview: A1's 120.00 EUR, 2 days past due, in the 1-30 bucket; each figure defined.
    click(d, "the overview's link", lambda d: d.find_element(By.CSS_SELECTOR, "header nav a[data-nav=overview]"))
    wait(d, "the aging table", lambda d: [r.text for r in d.find_elements(By.CSS_SELECTOR, "#aging tbody tr")] ==
         ["EUR 1-30 1 120.00 EUR"], detail=lambda: d.find_element(By.ID, "kpis").text)
    expect(len(d.find_elements(By.CSS_SELECTOR, "#kpis section p.def")), 8, "the figures' definitions")
    lag = wait(d, "the consumer lag table", lambda d: [r.text for r in d.find_elements(
        By.CSS_SELECTOR, "#consumer-lag tbody tr")])
    expect([r.split(" ")[0] for r in lag], ["dunning-engine", "sender-email", "sender-sms", "sender-letter",
                                          "sender-voice"], "the consumer groups")
    shot(d, "10-overview")

    # Log out; log in as tenant B's collector.
    d.find_element(By.ID, "logout").click()
    wait(d, "the login form after the logout", lambda d: d.find_elements(By.ID, "login-form"))
    expect(d.find_element(By.ID, "login-error").text, "You are logged out.", "the logout's message")
    shot(d, "7-logged-out")
    log_in(d, login_b)
    wait(d, "B1 on B's worklist", lambda d: [r.get_attribute("data-invoice") for r in rows(d)] == ["B1"])
    shot(d, "8-other-tenant-worklist")
    d.get(f"{url}/cases/{case_id}")
    nf = wait(d, "the not-found page", lambda d: d.find_elements(By.ID, "not-found"))[0]
    expect(d.find_element(By.TAG_NAME, "h1").text, "Not found", "the heading for another tenant's case")
    if "N-A1" in body(d):
        fail("another tenant's case shows its number")
    shot(d, "9-other-tenant-case")
    _ = nf
finally:
    d.quit()
print("console.py: ok")
