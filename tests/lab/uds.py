#!/usr/bin/env python3
"""A request to the lab's stand-in for CUCM's User Data Services (standard library
only), for the lab's own tests: HTTPS to IP:8443, the certificate verified against CA
for cucm.lab.test.

  uds.py IP CA PATH [USER PASSWORD_FILE]
Prints the status line; exit 0 on 200 with an XML document, 1 otherwise.
"""
import base64
import socket
import ssl
import sys


def main():
    ip, ca, path = sys.argv[1:4]
    headers = "Host: cucm.lab.test:8443\r\nAccept: application/xml\r\nConnection: close\r\n"
    if len(sys.argv) > 5:
        with open(sys.argv[5]) as f:
            password = f.read().rstrip("\n")
        token = base64.b64encode(("%s:%s" % (sys.argv[4], password)).encode()).decode()
        headers += "Authorization: Basic %s\r\n" % token
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection((ip, 8443), timeout=3) as raw:
        with ctx.wrap_socket(raw, server_hostname="cucm.lab.test") as s:
            s.sendall(("GET %s HTTP/1.1\r\n%s\r\n" % (path, headers)).encode())
            data = b""
            while len(data) < 1 << 20:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode(errors="replace")
    print(status)
    return 0 if status.startswith("HTTP/1.1 200") and body.lstrip().startswith(b"<?xml") else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, ValueError) as e:
        print("no answer: %s" % e)
        sys.exit(1)
