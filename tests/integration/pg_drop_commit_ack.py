#!/usr/bin/python3
"""A TCP proxy in front of PostgreSQL that loses one COMMIT acknowledgement.

    pg_drop_commit_ack.py --listen-port-file FILE --upstream HOST:PORT --match TEXT --done-file FILE

Forwards every connection to the upstream server. The first time a connection sends a
statement containing TEXT (for example "INSERT INTO cases") and then COMMIT, the proxy
lets the server execute the COMMIT but does not pass on its answer: it closes the
connection instead, as a network failure at exactly that moment would. The client sees the
connection drop with the transaction's outcome unknown; it was in fact committed. Then it
writes --done-file and forwards everything else untouched. Clients must connect without
TLS (sslmode=disable, gssencmode=disable) so that the protocol can be read.
"""

import argparse
import os
import signal
import socket
import struct
import sys
import threading

state = {"done": False}
lock = threading.Lock()


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def close(*socks):
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()


def client_to_server(client, server, conn, match):
    try:
        # The startup message has no type byte.
        head = read_exact(client, 4)
        (length,) = struct.unpack("!I", head)
        server.sendall(head + read_exact(client, length - 4))
        while True:
            kind = read_exact(client, 1)
            head = read_exact(client, 4)
            (length,) = struct.unpack("!I", head)
            body = read_exact(client, length - 4)
            if kind in (b"Q", b"P") and match in body:
                conn["armed"] = True
            server.sendall(kind + head + body)
    except (EOFError, OSError):
        close(client, server)


def server_to_client(client, server, conn, done_file):
    try:
        while True:
            kind = read_exact(server, 1)
            head = read_exact(server, 4)
            (length,) = struct.unpack("!I", head)
            body = read_exact(server, length - 4)
            if kind == b"C" and body.rstrip(b"\0") == b"COMMIT" and conn.get("armed"):
                with lock:
                    drop = not state["done"]
                    state["done"] = True
                if drop:
                    with open(done_file, "w") as f:
                        f.write("dropped the answer to a COMMIT\n")
                    close(client, server)
                    return
            client.sendall(kind + head + body)
    except (EOFError, OSError):
        close(client, server)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen-port-file", required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--match", required=True)
    ap.add_argument("--done-file", required=True)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    host, port = args.upstream.rsplit(":", 1)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    with open(args.listen_port_file + ".tmp", "w") as f:
        f.write("%d\n" % ls.getsockname()[1])
    os.rename(args.listen_port_file + ".tmp", args.listen_port_file)
    while True:
        client, _ = ls.accept()
        server = socket.create_connection((host, int(port)))
        conn = {}
        threading.Thread(target=client_to_server, args=(client, server, conn, args.match.encode()),
                         daemon=True).start()
        threading.Thread(target=server_to_client, args=(client, server, conn, args.done_file), daemon=True).start()


if __name__ == "__main__":
    main()
