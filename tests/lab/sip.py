#!/usr/bin/env python3
"""SIP OPTIONS to a lab node (standard library only), for the lab's own tests.

  sip.py udp|tcp IP
  sip.py tls IP CA [CLIENT_CERT CLIENT_KEY]
Prints the status line; exit 0 on 200, 1 otherwise.
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


def main(argv):
    transport, ip = argv[1], argv[2]
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
