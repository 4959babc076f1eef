#!/usr/bin/python3
"""An SMTP server that requires AUTH (PLAIN or LOGIN) with one user and password, for
tests/integration/test_security_secrets.sh. Accepted messages are written as files into
--dir; every AUTH attempt is logged as one JSON line (user, ok) to stderr, never the password.
  test_security_smtp_server.py --port P --dir D --user U --password-file F
"""
import argparse
import json
import os
import signal
import sys
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def log(**fields):
    print(json.dumps(fields), file=sys.stderr, flush=True)


class Handler:
    def __init__(self, directory):
        self.directory = directory
        self.seq = 0

    async def handle_DATA(self, server, session, envelope):
        self.seq += 1
        path = os.path.join(self.directory, "%d.eml" % self.seq)
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        log(msg="accepted", rcpt=envelope.rcpt_tos, user=session.login_data.decode() if session.login_data else None)
        return "250 OK"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password-file", required=True)
    a = ap.parse_args()
    with open(a.password_file) as f:
        password = f.read().strip()

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == a.user and \
            auth_data.password.decode() == password
        log(msg="auth", mechanism=mechanism, user=auth_data.login.decode() if isinstance(auth_data, LoginPassword) else None,
            ok=ok)
        return AuthResult(success=ok, auth_data=auth_data.login if ok else None)

    ctl = Controller(Handler(a.dir), hostname="127.0.0.1", port=a.port, authenticator=authenticator,
                     auth_required=True, auth_require_tls=False)
    ctl.start()
    log(msg="listening", port=a.port)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    while not done.wait(0.5):
        pass
    ctl.stop()


if __name__ == "__main__":
    main()
