#!/usr/bin/env python3
"""SIP OPTIONS to a lab node (standard library only), for the lab's own tests.

  sip.py udp|tcp IP
  sip.py tls IP CA [CLIENT_CERT CLIENT_KEY]
Prints the status line; exit 0 on 200, 1 otherwise.
  sip.py presence IP
Over TCP: PUBLISH a PIDF for alice@lab.test, SUBSCRIBE to her, and expect a NOTIFY
carrying the published note; exit 0 if it comes, 1 otherwise.
"""
import random
import socket
import ssl
import sys


def options(transport, ip, port, local):
    r = random.randrange(1 << 30)
    return (
        "OPTIONS sip:%s:%d SIP/2.0\r\n"
        "Via: SIP/2.0/%s %s;branch=z9hG4bK-lab-%d;rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:cucm@lab.test>;tag=t%d\r\n"
        "To: <sip:%s:%d>\r\n"
        "Call-ID: lab-%d@cucm.lab.test\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ) % (ip, port, transport.upper(), local, r, r, ip, port, r)


def presence(ip):
    s = socket.create_connection((ip, 5060), timeout=3)
    local = "%s:%d" % s.getsockname()
    r = random.randrange(1 << 30)
    note = "lab-test-%d" % r
    body = ('<?xml version="1.0" encoding="UTF-8"?>\r\n<presence xmlns="urn:ietf:params:xml:ns:pidf" '
            'entity="sip:alice@lab.test"><tuple id="lab-%d"><status><basic>open</basic></status>'
            '<note>%s</note></tuple></presence>\r\n') % (r, note)
    buf = b""

    def send(method, call_id, extra, body=""):
        s.sendall(((
            "%s sip:alice@lab.test SIP/2.0\r\nVia: SIP/2.0/TCP %s;branch=z9hG4bK-lab-%s\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:cucm@lab.test>;tag=t%s\r\nTo: <sip:alice@lab.test>\r\n"
            "Call-ID: %s\r\nCSeq: 1 %s\r\nContact: <sip:lab@%s;transport=tcp>\r\nEvent: presence\r\n"
            "Expires: 30\r\n%sContent-Length: %d\r\n\r\n%s"
        ) % (method, local, call_id, call_id, call_id, method, local, extra, len(body), body)).encode())

    def read():
        nonlocal buf
        while True:
            head, sep, rest = buf.partition(b"\r\n\r\n")
            if sep:
                n = 0
                for line in head.split(b"\r\n"):
                    k, _, v = line.partition(b":")
                    if k.strip().lower() in (b"content-length", b"l"):
                        n = int(v)
                if len(rest) >= n:
                    buf = rest[n:]
                    return head.decode(errors="replace"), rest[:n].decode(errors="replace")
            chunk = s.recv(65535)
            if not chunk:
                raise OSError("connection closed")
            buf += chunk

    send("PUBLISH", "pub-%d" % r, "Content-Type: application/pidf+xml\r\n", body)
    head, _ = read()
    print(head.split("\r\n", 1)[0])
    if not head.startswith("SIP/2.0 200"):
        return 1
    send("SUBSCRIBE", "sub-%d" % r, "Accept: application/pidf+xml\r\n")
    for _ in range(4):
        head, body = read()
        if head.startswith("NOTIFY") and note in body:
            print("NOTIFY carries %s" % note)
            return 0
    return 1


def main(argv):
    transport, ip = argv[1], argv[2]
    if transport == "presence":
        return presence(ip)
    if transport == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.settimeout(2)
        s.sendto(options("udp", ip, 5060, "127.0.0.1:%d" % s.getsockname()[1]).encode(), (ip, 5060))
        data = s.recvfrom(65535)[0]
    else:
        port = 5061 if transport == "tls" else 5060
        s = socket.create_connection((ip, port), timeout=3)
        if transport == "tls":
            ctx = ssl.create_default_context(cafile=argv[3])
            ctx.check_hostname = False  # the node is addressed by IP here; the chain is verified
            if len(argv) > 5:
                ctx.load_cert_chain(argv[4], argv[5])
            s = ctx.wrap_socket(s)
        s.sendall(options(transport, ip, port, "%s:%d" % s.getsockname()).encode())
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(65535)
            if not chunk:
                break
            data += chunk
    line = data.split(b"\r\n", 1)[0].decode(errors="replace")
    print(line)
    return 0 if line.startswith("SIP/2.0 200") else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (OSError, ssl.SSLError) as e:
        print("sip.py: %s" % e, file=sys.stderr)
        sys.exit(1)
