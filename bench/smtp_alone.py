"""The SMTP sink measured alone: how many messages per second scripts/smtp-sink.py accepts
over one reused connection. Usage: smtp_alone.py smtp://host:port COUNT. Prints the rate.
If sender-email's rate is close to this, the sink, not the sender, is the limit."""
import smtplib
import sys
import time
from urllib.parse import urlparse

url = urlparse(sys.argv[1])
count = int(sys.argv[2])
body = ("From: bench@example.test\r\nTo: sink@example.test\r\nSubject: bench\r\n\r\n" + ("x" * 76 + "\r\n") * 26)
with smtplib.SMTP(url.hostname, url.port, timeout=30) as s:
    start = time.monotonic()
    for _ in range(count):
        s.sendmail("bench@example.test", ["sink@example.test"], body)
    elapsed = time.monotonic() - start
print(round(count / elapsed, 1))
