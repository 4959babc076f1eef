#!/usr/bin/python3
"""SMTP capture server of the embedded stack (Debian's python3-aiosmtpd).

Stores every accepted message as one file <epoch-ms>-<seq>.eml in --dir, written
atomically (temp file + rename), with the envelope as X-Envelope-From / X-Envelope-To
headers on top. Fault injection for tests, by recipient local part:
  reject...   -> 550 5.1.1 mailbox unavailable   (permanent)
  tempfail... -> 451 4.3.0 try again later       (transient)
and by a control file, for failures that end: while <--dir>/../smtp.tempfail exists
(.run/smtp.tempfail in the stack; --tempfail-file to change), RCPT gets 451 4.3.0: for
every recipient if the file is empty, else only for the addresses it lists (one per line,
case-insensitive). Remove the file and the next attempt is accepted.
Logs one JSON line per message to stderr.
"""
import argparse
import asyncio
import itertools
import json
import os
import signal
import sys
import time

from aiosmtpd.controller import Controller

seq = itertools.count(1)


def log(**fields):
    fields["ts"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    fields["service"] = "smtp-sink"
    print(json.dumps(fields), file=sys.stderr, flush=True)


class Sink:
    def __init__(self, directory, tempfail_file):
        self.directory = directory
        self.tempfail_file = tempfail_file

    def tempfailing(self, address):
        try:
            with open(self.tempfail_file) as f:
                listed = {line.strip().lower() for line in f if line.strip()}
        except OSError:
            return False
        return not listed or address.lower() in listed

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("reject"):
            log(msg="recipient rejected", code=550)
            return "550 5.1.1 mailbox unavailable"
        if local.startswith("tempfail"):
            log(msg="recipient deferred", code=451)
            return "451 4.3.0 try again later"
        if self.tempfailing(address):
            log(msg="recipient deferred (control file)", code=451)
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        name = "%d-%06d.eml" % (int(time.time() * 1000), next(seq))
        path = os.path.join(self.directory, name)
        head = "X-Envelope-From: %s\r\nX-Envelope-To: %s\r\n" % (
            envelope.mail_from, ", ".join(envelope.rcpt_tos))
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(head.encode())
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, path)
        log(msg="message stored", file=name, size=os.path.getsize(path))
        return "250 Message accepted for delivery"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--tempfail-file", default=None,
                    help="while it exists, RCPT gets 451 (default: <dir>/../smtp.tempfail)")
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    tempfail = args.tempfail_file or os.path.join(os.path.dirname(os.path.abspath(args.dir)), "smtp.tempfail")
    controller = Controller(Sink(args.dir, tempfail), hostname=args.host, port=args.port)
    controller.start()
    log(msg="listening", host=args.host, port=args.port, dir=args.dir, tempfail_file=tempfail)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.run_until_complete(stop.wait())
    controller.stop()
    log(msg="stopped")


if __name__ == "__main__":
    main()
