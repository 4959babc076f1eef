#!/usr/bin/env python3
"""The media end of the SIP test peer: counts the RTP a caller sends, writes calls.log.

SIPp 3.6 counts RTP only globally (its -rtp_echo counters, all calls together), so the
callee's SDP answer (config/voice/sipp/callee.xml) names this sink's port as its media
port ([media_port+4]) and the sink counts what arrives, per source address. SIPp sends
its DTMF from that same address (play_pcap_audio writes the UDP header itself), so a
caller sees one symmetric media peer.

The sink also talks: when a call is answered the scenario runs `rtp-sink.py greet ...`,
and the sink streams a greeting to the caller's media address in 20 ms PCMU packets (a
person's short "Hello?", or an answering machine's announcement and beep, from
--greetings DIR: person.ulaw, machine.ulaw, raw G.711 u-law made by dn-voice-say), then
the line's low noise until the call ends: what a caller's answering-machine detection
listens to.

When a call ends the scenario runs `rtp-sink.py end ...` (SIPp's <exec>), which hands
the call's facts to the sink as one JSON datagram; the sink adds what it counted for the
caller's media address (from the caller's SDP) and appends one line to the log:

  serve --port P --log FILE [--bind 127.0.0.1] [--greetings DIR]
  greet --sink HOST:PORT --media IP:PORT --kind person|machine
  end --sink HOST:PORT --media IP:PORT --number N --outcome O [--answered S,US]
      [--ended S,US] [--digits D] [--hangup caller|peer] [--call-id ID]
  (S,US: SIPp's <gettimeofday> pair; duration_s runs from the answer to --ended, or to
  now when --ended is not given, and is 0 for a call that was not answered)

Standard library only.
"""
import argparse
import json
import os
import random
import socket
import struct
import sys
import time

EVENTS = "0123456789*#ABCD"
G711 = (0, 8)  # PCMU, PCMA: one byte per sample at 8000 Hz
FORGET_S = 600  # state of a source nobody ended is dropped after this long
TALK_MAX_S = 90  # a greeting stream nobody ended stops after this long
NOISE = b"\xff\xfe\xfd\x7f\x7e\x7d"  # u-law codes of -2..+2: a line's noise, ~-80 dBFS


class Talker:
    """The peer's side of the audio: a greeting, then line noise, in 20 ms packets."""

    def __init__(self, addr, audio):
        self.addr = addr
        self.audio = audio
        self.pos = 0
        self.seq = random.randrange(65536)
        self.ts = random.randrange(1 << 32)
        self.ssrc = random.randrange(1 << 32)
        self.start = time.monotonic()
        self.sent = 0

    def due(self):
        return self.start + self.sent * 0.02

    def send(self, sock):
        chunk = self.audio[self.pos : self.pos + 160]
        self.pos += len(chunk)
        payload = chunk + bytes(random.choice(NOISE) for _ in range(160 - len(chunk)))
        hdr = struct.pack("!BBHII", 0x80, (0x80 if self.sent == 0 else 0), self.seq, self.ts, self.ssrc)
        try:
            sock.sendto(hdr + payload, self.addr)
        except OSError:
            pass
        self.seq = (self.seq + 1) & 0xFFFF
        self.ts = (self.ts + 160) & 0xFFFFFFFF
        self.sent += 1


def load_greetings(folder):
    out = {}
    for kind in ("person", "machine"):
        path = os.path.join(folder, kind + ".ulaw") if folder else ""
        if path and os.path.exists(path):
            with open(path, "rb") as f:
                out[kind] = f.read()
    return out


class Source:
    def __init__(self):
        self.packets = 0
        self.audio_bytes = 0
        self.dtmf = []
        self.dtmf_ts = set()
        self.last = time.monotonic()

    def add(self, pkt):
        self.last = time.monotonic()
        self.packets += 1
        cc = pkt[0] & 0x0F
        ext = pkt[0] & 0x10
        pad = pkt[0] & 0x20
        pt = pkt[1] & 0x7F
        (ts,) = struct.unpack("!I", pkt[4:8])
        off = 12 + 4 * cc
        if ext and len(pkt) >= off + 4:
            off += 4 + 4 * struct.unpack("!H", pkt[off + 2 : off + 4])[0]
        end = len(pkt) - (pkt[-1] if pad and len(pkt) > off else 0)
        payload = pkt[off:end]
        if pt in G711:
            self.audio_bytes += len(payload)
        elif pt >= 96 and len(payload) == 4 and payload[1] & 0x80:
            # RFC 4733 telephone-event with the end bit: one digit per timestamp (the
            # end packet is sent three times).
            if ts not in self.dtmf_ts and payload[0] < len(EVENTS):
                self.dtmf_ts.add(ts)
                self.dtmf.append(EVENTS[payload[0]])


def now_iso():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % (int(t * 1000) % 1000)


def stamp(value):
    """SIPp's gettimeofday as "SECONDS,MICROSECONDS" (a zero prints empty) -> float or None."""
    if not value or value.strip(",") == "":
        return None
    s, _, us = value.partition(",")
    try:
        return float(s or 0) + float(us or 0) / 1e6
    except ValueError:
        return None


def serve(args):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((args.bind, args.port))
    sources = {}
    talkers = {}  # media "ip:port" -> Talker
    greeted = {}  # media -> the greeting kind
    greetings = load_greetings(args.greetings)
    log = open(args.log, "a", buffering=1)
    swept = time.monotonic()
    while True:
        now = time.monotonic()
        for media, t in list(talkers.items()):
            while t.due() <= now:
                t.send(sock)
            if now - t.start > TALK_MAX_S:
                del talkers[media]
        wait = min([t.due() for t in talkers.values()] + [now + 1.0]) - now
        sock.settimeout(max(0.001, wait))
        try:
            pkt, addr = sock.recvfrom(65535)
        except socket.timeout:
            continue
        if pkt[:1] == b"{":
            try:
                call = json.loads(pkt)
            except ValueError:
                continue
            media = call.get("media") or "-"
            if call.get("greet"):
                kind = call["greet"]
                ip, _, port = media.rpartition(":")
                if ip and port.isdigit():
                    talkers[media] = Talker((ip, int(port)), greetings.get(kind, b""))
                    greeted[media] = kind if kind in greetings else kind + "(missing)"
                continue
            talkers.pop(media, None)
            src = sources.pop(media, None) or Source()
            fields = [
                ("number", call.get("number")),
                ("outcome", call.get("outcome")),
                ("duration_s", call.get("duration_s")),
                ("rtp_packets", src.packets),
                ("audio_s", "%.2f" % (src.audio_bytes / 8000.0)),
                ("digits_sent", call.get("digits")),
                ("dtmf_in", "".join(src.dtmf)),
                ("hangup", call.get("hangup")),
                ("greeting", greeted.pop(media, None)),
                ("media", media),
                ("call_id", call.get("call_id")),
            ]
            log.write(now_iso() + " " + " ".join("%s=%s" % (k, v if v not in (None, "") else "-") for k, v in fields) + "\n")
            continue
        if len(pkt) >= 12 and pkt[0] >> 6 == 2:
            key = "%s:%d" % addr
            sources.setdefault(key, Source()).add(pkt)
        if time.monotonic() - swept > 60:
            swept = time.monotonic()
            for key in [k for k, s in sources.items() if swept - s.last > FORGET_S]:
                del sources[key]


def greet(args):
    host, port = args.sink.rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.sendto(json.dumps({"greet": args.kind, "media": args.media}).encode(), (host, int(port)))


def end(args):
    host, port = args.sink.rsplit(":", 1)
    call = {k: getattr(args, k) for k in ("media", "number", "outcome", "digits", "hangup", "call_id")}
    if call["media"] in (None, "", ":") or call["media"].startswith(":") or call["media"].endswith(":"):
        call["media"] = "-"
    answered = stamp(args.answered)
    ended = stamp(args.ended) if args.ended else time.time()
    call["duration_s"] = "%.1f" % (max(0.0, ended - answered) if answered else 0.0)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # Let the last RTP packets of the call reach the sink before the tally.
    time.sleep(0.2)
    sock.sendto(json.dumps(call).encode(), (host, int(port)))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--bind", default="127.0.0.1")
    s.add_argument("--log", required=True)
    s.add_argument("--greetings", default="")
    g = sub.add_parser("greet")
    g.add_argument("--sink", required=True)
    g.add_argument("--media", required=True)
    g.add_argument("--kind", choices=("person", "machine"), required=True)
    e = sub.add_parser("end")
    e.add_argument("--sink", required=True)
    e.add_argument("--media", default="-")
    e.add_argument("--number", default="-")
    e.add_argument("--outcome", default="-")
    e.add_argument("--answered", default="")
    e.add_argument("--ended")
    e.add_argument("--digits", default="")
    e.add_argument("--hangup", default="")
    e.add_argument("--call-id", dest="call_id", default="")
    args = p.parse_args()
    if args.cmd == "serve":
        try:
            serve(args)
        except KeyboardInterrupt:
            pass
    elif args.cmd == "greet":
        greet(args)
    else:
        end(args)


if __name__ == "__main__":
    sys.exit(main())
