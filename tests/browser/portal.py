"""The portal in Chromium.

portal.py LINK TAMPERED_LINK SHOTS_DIR NEW_EMAIL: opens the link a reminder e-mail carried,
checks the invoices and amounts on the page, promises to pay X1 by 2026-03-20, asks for X3
in 3 instalments, disputes X2 and sets the contact preferences (no calls, NEW_EMAIL)
through the page's forms, waiting each time for the engine's answer to show; looks at the
page phone-sized; opens a tampered link and sees the neutral page.

portal.py same SHOTS_DIR LINK SHORT_LINK QR_LINK EXPIRED RETIRED GERMAN_LINK: the SMS's
short link and the letter's QR code show the same page as the e-mail's link; an expired
link and one signed by a retired key get the neutral page; a German customer's page is in
German. A screenshot of each step goes to SHOTS_DIR."""
import os
import sys

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from browser import expect, fail, start, wait  # noqa: E402

NEUTRAL = "This link is not valid or has expired. / Dieser Link ist ungültig oder abgelaufen."


def invoices(d, url, shot):
    """The page at url once drawn: [(invoice, total due as shown)]."""
    d.get(url)
    wait(d, f"the invoices at {url[:40]}", lambda d: d.find_elements(By.CSS_SELECTOR, "section.invoice"))
    d.save_screenshot(os.path.join(shots, shot))
    return [(s.get_attribute("data-invoice"), s.find_element(By.CSS_SELECTOR, "tr.total td.num").text)
            for s in d.find_elements(By.CSS_SELECTOR, "section.invoice")]


def neutral(d, url, shot, what):
    d.get(url)
    msg = wait(d, f"the neutral page for {what}", lambda d: d.find_elements(By.ID, "invalid"))[0]
    expect(msg.text, NEUTRAL, f"the neutral page's text ({what})")
    expect(len(d.find_elements(By.CSS_SELECTOR, "section.invoice")), 0, f"invoices on the neutral page ({what})")
    d.save_screenshot(os.path.join(shots, shot))


if sys.argv[1] == "same":
    shots, link, short, qr, expired, retired, german = sys.argv[2:9]
    os.makedirs(shots, exist_ok=True)
    d = start()
    try:
        want = invoices(d, link, "portal-8-email-link.png")
        expect(invoices(d, short, "portal-9-sms-short-link.png"), want, "the SMS short link's page")
        expect(invoices(d, qr, "portal-10-letter-qr-link.png"), want, "the letter QR code's page")
        neutral(d, expired, "portal-11-expired-link.png", "an expired link")
        neutral(d, retired, "portal-12-retired-key.png", "a retired key's link")
        got = invoices(d, german, "portal-13-german.png")
        expect(got, [("D1", "1.234,56 €")], "the German page's invoice")
        expect(d.find_element(By.TAG_NAME, "h1").text, "Ihre offenen Rechnungen", "the German heading")
        expect(d.find_element(By.ID, "plan-open-D1").text, "In Raten zahlen", "the German plan button")
        expect(d.find_element(By.CSS_SELECTOR, "#prefs h2").text, "Kontaktwünsche", "the German preferences heading")
        expect(d.find_element(By.CSS_SELECTOR, "label[for=no-calls]").text, "Keine Anrufe", "the German no-calls box")
    finally:
        d.quit()
    print("portal.py same: ok")
    sys.exit(0)

link, tampered, shots, new_email = sys.argv[1:5]
os.makedirs(shots, exist_ok=True)
d = start()
try:
    d.get(link)
    wait(d, "the invoices", lambda d: len(d.find_elements(By.CSS_SELECTOR, "section.invoice")) == 4)
    expect(d.find_element(By.TAG_NAME, "h1").text, "Your open invoices", "the heading")
    expect([s.get_attribute("data-invoice") for s in d.find_elements(By.CSS_SELECTOR, "section.invoice")],
           ["X1", "X4", "X3", "X2"], "the invoices, by due date")
    x1 = d.find_element(By.CSS_SELECTOR, 'section[data-invoice="X1"]')
    expect(x1.find_element(By.TAG_NAME, "h2").text, "Invoice N-X1", "X1's title")
    expect(x1.find_element(By.CSS_SELECTOR, "tr.total td.num").text, "€120.00", "X1's total due")
    x2 = d.find_element(By.CSS_SELECTOR, 'section[data-invoice="X2"]')
    expect(x2.find_element(By.CSS_SELECTOR, "tr.total td.num").text, "€350.50", "X2's total due")
    x3 = d.find_element(By.CSS_SELECTOR, 'section[data-invoice="X3"]')
    expect(x3.find_element(By.CSS_SELECTOR, "tr.total td.num").text, "€900.00", "X3's total due")
    if "1 reminder(s) sent" not in x1.find_element(By.CSS_SELECTOR, "p.note").text:
        fail("X1 does not say one reminder was sent: " + x1.find_element(By.CSS_SELECTOR, "p.note").text)
    d.save_screenshot(os.path.join(shots, "portal-1-overview.png"))

    # Promise to pay X1 by 2026-03-20.
    d.find_element(By.ID, "promise-open-X1").click()
    date = wait(d, "the promise form", lambda d: d.find_elements(By.ID, "date-X1"))[0]
    d.execute_script("arguments[0].value = arguments[1]", date, "2026-03-20")
    d.save_screenshot(os.path.join(shots, "portal-2-promise-form.png"))
    d.find_element(By.CSS_SELECTOR, "#promise-X1 button[type=submit]").click()
    ans = wait(d, "the engine's answer to the promise", lambda d: d.find_elements(By.CSS_SELECTOR, "p.answer"))[0]
    expect(ans.get_attribute("data-answer"), "promise_made", "the answer's audit kinds")
    d.save_screenshot(os.path.join(shots, "portal-3-promise-answered.png"))
    note = lambda d: d.find_element(By.CSS_SELECTOR, 'section[data-invoice="X1"] p.note').text  # noqa: E731
    wait(d, "X1 shown as promised", lambda d: "Promised for 20 March 2026" in note(d),
         detail=lambda: note(d))

    # X3 in 3 instalments: the offer shows its dates and amounts, the engine agrees it.
    d.find_element(By.ID, "plan-open-X3").click()
    wait(d, "the plan form", lambda d: d.find_elements(By.ID, "plan-X3-3"))[0].click()
    lines = [li.text for li in d.find_elements(By.CSS_SELECTOR, '#plan-X3 ol[data-count="3"] li')]
    expect(lines, ["4 April 2026: €301.00", "5 May 2026: €301.00", "5 June 2026: €301.00"], "the 3-instalment offer")
    d.save_screenshot(os.path.join(shots, "portal-7-plan-form.png"))
    d.find_element(By.CSS_SELECTOR, "#plan-X3 button[type=submit]").click()
    ans = wait(d, "the engine's answer to the plan", lambda d: d.find_elements(By.CSS_SELECTOR, "p.answer"))[0]
    expect(ans.get_attribute("data-answer"), "plan_agreed", "the plan's audit kinds")
    wait(d, "X3 shown on its plan", lambda d: len(d.find_elements(By.CSS_SELECTOR, '#current-plan-X3[data-state="active"] li')) == 3)
    expect(d.find_elements(By.CSS_SELECTOR, "#current-plan-X3 li")[0].text, "Instalment 1 of 3: 4 April 2026, €301.00",
           "X3's first instalment")

    # Dispute X2.
    d.find_element(By.ID, "dispute-open-X2").click()
    sel = wait(d, "the dispute form", lambda d: d.find_elements(By.ID, "reason-X2"))[0]
    Select(sel).select_by_value("wrong_amount")
    d.find_element(By.CSS_SELECTOR, "#dispute-X2 textarea").send_keys("We were charged for 3 licences, we have 2.")
    d.find_element(By.CSS_SELECTOR, "#dispute-X2 button[type=submit]").click()
    ans = wait(d, "the engine's answer to the dispute", lambda d: d.find_elements(By.CSS_SELECTOR, "p.answer"))[0]
    expect(ans.get_attribute("data-answer"), "paused", "the dispute's audit kinds")
    wait(d, "X2 shown on hold", lambda d: "On hold" in
         d.find_element(By.CSS_SELECTOR, 'section[data-invoice="X2"] p.note').text)
    if "On hold" in d.find_element(By.CSS_SELECTOR, 'section[data-invoice="X1"] p.note').text:
        fail("X1 (promised, not paused) is shown on hold")
    d.save_screenshot(os.path.join(shots, "portal-4-after-dispute.png"))

    # Contact preferences: no calls, a corrected e-mail address; the engine's answer, then
    # the page shows them.
    prefs = d.find_element(By.ID, "prefs")
    expect(prefs.find_element(By.TAG_NAME, "h2").text, "Contact preferences", "the preferences heading")
    expect([d.find_element(By.ID, "no-sms").is_selected(), d.find_element(By.ID, "no-calls").is_selected()],
           [False, False], "the checkboxes before")
    expect(d.find_element(By.ID, "email-now").text, "Reminders go by e-mail to x***@example.com.", "the address now")
    d.find_element(By.ID, "no-calls").click()
    d.find_element(By.ID, "email-new").send_keys(new_email)
    d.save_screenshot(os.path.join(shots, "portal-14-preferences-form.png"))
    d.find_element(By.ID, "prefs-save").click()
    ans = wait(d, "the engine's answer to the preferences",
               lambda d: d.find_elements(By.CSS_SELECTOR, "#prefs-box p.answer"))[0]
    expect(ans.get_attribute("data-answer"), "preferences_changed", "the preferences' audit kinds")
    wait(d, "the page showing the saved preferences", lambda d: d.find_elements(By.ID, "no-calls")
         and d.find_element(By.ID, "no-calls").is_selected()
         and "(the address you gave us)" in d.find_element(By.ID, "email-now").text)
    expect(d.find_element(By.ID, "no-sms").is_selected(), False, "no SMS still unticked")
    expect(d.find_element(By.ID, "prefs").get_attribute("data-opted-out"), "voice", "the opted-out channels")
    d.save_screenshot(os.path.join(shots, "portal-15-preferences-saved.png"))

    # Phone-sized: nothing wider than the screen.
    d.set_window_size(390, 844)
    wait(d, "the narrow layout", lambda d: d.execute_script("return document.documentElement.clientWidth") <= 390)
    sw = d.execute_script("return document.documentElement.scrollWidth")
    if sw > 390:
        fail(f"the page is {sw}px wide on a 390px screen")
    d.save_screenshot(os.path.join(shots, "portal-5-phone.png"))

    # A tampered link: the neutral page.
    d.set_window_size(1280, 1000)
    d.get(tampered)
    msg = wait(d, "the neutral page", lambda d: d.find_elements(By.ID, "invalid"))[0]
    expect(msg.text, "This link is not valid or has expired. / Dieser Link ist ungültig oder abgelaufen.",
           "the neutral page's text")
    expect(len(d.find_elements(By.CSS_SELECTOR, "section.invoice")), 0, "invoices on the neutral page")
    d.save_screenshot(os.path.join(shots, "portal-6-invalid-link.png"))
finally:
    d.quit()
print("portal.py: ok")
