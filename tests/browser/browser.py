"""The browser tests' Chromium: headless, from Debian's chromium and chromium-driver, with
Selenium 4 (python3-selenium). Only the standard library and selenium; run with
/usr/bin/python3 (Debian's python3-* packages belong to it)."""
import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = os.environ.get("DUNNING_CHROMIUM", "/usr/bin/chromium")
DRIVER = os.environ.get("DUNNING_CHROMEDRIVER", "/usr/bin/chromedriver")


def start(width=1280, height=1000):
    opts = Options()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--no-first-run", "--disable-extensions", f"--window-size={width},{height}"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service(DRIVER), options=opts)


def wait(driver, what, cond, timeout=20, detail=None):
    """Waits for cond(driver) to be true (never a fixed sleep); fails naming what (and
    what detail() says of the page then)."""
    try:
        # The page redraws parts of itself: an element found a moment ago may be gone.
        return WebDriverWait(driver, timeout, poll_frequency=0.1,
                             ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)).until(
            lambda d: cond(d))
    except Exception:
        extra = ""
        try:
            extra = f" (the page: {(detail() if detail else driver.find_element('tag name', 'body').text)!r})"
        except Exception as e:  # the page itself may be what is wrong
            extra = f" ({e})"
        fail(f"timed out waiting for {what}{extra}")


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def expect(got, want, what):
    if got != want:
        fail(f"{what}: expected {want!r}, got {got!r}")
