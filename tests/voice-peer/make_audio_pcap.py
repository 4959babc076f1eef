#!/usr/bin/env python3
"""make_audio_pcap.py FILE [SECONDS]: a pcap of RTP audio for SIPp's play_pcap_audio.

PCMU (payload type 0), 20 ms packets of 160 bytes, a 440 Hz tone, in Ethernet/IPv4/UDP
frames (SIPp takes only the UDP payload and rewrites the ports). SECONDS defaults to 4:
200 packets, 4.00 s of audio. Standard library only.
"""
import math
import struct
import sys


def ulaw(sample):
    """G.711 mu-law of a 16-bit linear sample."""
    sign = 0x80 if sample < 0 else 0
    sample = min(abs(sample), 32635) + 0x84
    exponent, mask = 7, 0x4000
    while exponent > 0 and not sample & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def main():
    path = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 4.0
    packets = int(round(seconds * 50))
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    n = 0
    for i in range(packets):
        payload = bytes(ulaw(int(8000 * math.sin(2 * math.pi * 440 * (n + k) / 8000))) for k in range(160))
        rtp = struct.pack("!BBHII", 0x80, (0x80 if i == 0 else 0) | 0, i + 1, n, 0x5E1F7E57) + payload
        udp = struct.pack("!HHHH", 5000, 6000, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0, bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
        frame = b"\x00" * 12 + b"\x08\x00" + ip
        t = i * 0.02
        out.append(struct.pack("<IIII", int(t), int(round((t - int(t)) * 1e6)), len(frame), len(frame)) + frame)
        n += 160
    with open(path, "wb") as f:
        f.write(b"".join(out))


if __name__ == "__main__":
    main()
