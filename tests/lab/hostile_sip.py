#!/usr/bin/env python3
"""Hostile SIP servers for tests (standard library only).

  hostile_sip.py IP PORT [evil]
    Over UDP: answers every request with 200, matching the request's Via, From, To,
    Call-ID and CSeq so that a client takes the answer, but with text no XML document
    may hold (U+FFFE, U+FFFF, control characters) in its reason phrase and Server header.
  hostile_sip.py IP PORT publish-then-silent
    Over TCP: answers OPTIONS 200 and a first PUBLISH (no SIP-If-Match) 200 with a
    SIP-ETag, as a presence server does; then never answers the refresh or the removal
    of that publication (nor anything else), holding the connection open.
Prints "ready" once it listens; serves until killed.
"""
import socket
import sys
import threading

EVIL = "\ufffe\uffff\x01\x1b[2J<x>&amp;"
KEEP = ("via", "v", "from", "f", "to", "t", "call-id", "i", "cseq")


def echo_headers(lines):
    return [l for l in lines[1:] if l.split(":", 1)[0].strip().lower() in KEEP]


def evil(ip, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, port))
    print("ready", flush=True)
    while True:
        data, peer = s.recvfrom(65536)
        lines = data.decode("utf-8", "replace").split("\r\n")
        resp = "SIP/2.0 200 OK " + EVIL + "\r\n" + "\r\n".join(echo_headers(lines)) + \
            "\r\nServer: hostile " + EVIL + "\r\nContent-Length: 0\r\n\r\n"
        s.sendto(resp.encode("utf-8"), peer)


def messages(conn):
    """The SIP messages of a stream, framed by Content-Length."""
    buf = b""
    while True:
        head, sep, rest = buf.partition(b"\r\n\r\n")
        if sep:
            length = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() in (b"content-length", b"l"):
                    length = int(v.strip() or 0)
            if len(rest) >= length:
                buf = rest[length:]
                yield head.decode("utf-8", "replace").split("\r\n")
                continue
        data = conn.recv(65536)
        if not data:
            return
        buf += data


def publish_then_silent(conn):
    held = []
    for lines in messages(conn):
        method = lines[0].split(" ", 1)[0]
        refresh = any(l.lower().startswith("sip-if-match:") for l in lines[1:])
        if method == "OPTIONS" or (method == "PUBLISH" and not refresh):
            extra = "SIP-ETag: hostile-1\r\nExpires: 120\r\n" if method == "PUBLISH" else ""
            resp = "SIP/2.0 200 OK\r\n" + "\r\n".join(echo_headers(lines)) + \
                "\r\nServer: hostile-silent\r\n" + extra + "Content-Length: 0\r\n\r\n"
            conn.sendall(resp.encode("utf-8"))
        else:
            held.append(lines[0])  # never answered


def serve_tcp(ip, port, handler):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, port))
    s.listen(16)
    print("ready", flush=True)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=handler, args=(conn,), daemon=True).start()


def main(argv):
    ip, port = argv[1], int(argv[2])
    mode = argv[3] if len(argv) > 3 else "evil"
    if mode == "evil":
        evil(ip, port)
    elif mode == "publish-then-silent":
        serve_tcp(ip, port, publish_then_silent)
    else:
        sys.exit("unknown mode %s" % mode)


if __name__ == "__main__":
    main(sys.argv)
