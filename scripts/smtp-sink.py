#!/usr/bin/python3
"""SMTP capture server of the embedded stack (Debian's python3-aiosmtpd).

Stores every accepted message as one file <epoch-ms>-<seq>.eml in --dir, written
atomically (temp file + rename), with the envelope as X-Envelope-From / X-Envelope-To
headers on top. Fault injection for tests, by recipient local part:
  reject...   -> 550 5.1.1 mailbox unavailable   (permanent)
  tempfail... -> 451 4.3.0 try again later       (transient)
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
    def __init__(self, directory):
        self.directory = directory

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("reject"):
            log(msg="recipient rejected", code=550)
            return "550 5.1.1 mailbox unavailable"
        if local.startswith("tempfail"):
            log(msg="recipient deferred", code=451)
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
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    controller = Controller(Sink(args.dir), hostname=args.host, port=args.port)
    controller.start()
    log(msg="listening", host=args.host, port=args.port, dir=args.dir)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.run_until_complete(stop.wait())
    controller.stop()
    log(msg="stopped")


if __name__ == "__main__":
    main()
