#!/usr/bin/env python3
"""A hostile SIP server for report tests (standard library only): it answers every
request over UDP with 200, matching the request's Via, From, To, Call-ID and CSeq so
that a client takes the answer, but with text no XML document may hold (U+FFFE, U+FFFF,
control characters) in its reason phrase and Server header.

  hostile_sip.py IP PORT
Prints "ready" once it listens; serves until killed.
"""
import socket
import sys

EVIL = "\ufffe\uffff\x01\x1b[2J<x>&amp;"


def main(argv):
    ip, port = argv[1], int(argv[2])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, port))
    print("ready", flush=True)
    while True:
        data, peer = s.recvfrom(65536)
        lines = data.decode("utf-8", "replace").split("\r\n")
        keep = [l for l in lines[1:] if l.split(":", 1)[0].strip().lower()
                in ("via", "v", "from", "f", "to", "t", "call-id", "i", "cseq")]
        resp = "SIP/2.0 200 OK " + EVIL + "\r\n" + "\r\n".join(keep) + \
            "\r\nServer: hostile " + EVIL + "\r\nContent-Length: 0\r\n\r\n"
        s.sendto(resp.encode("utf-8"), peer)


if __name__ == "__main__":
    main(sys.argv)
