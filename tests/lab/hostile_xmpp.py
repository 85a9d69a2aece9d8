#!/usr/bin/env python3
"""A hostile XMPP server for fault tests (standard library only): it does STARTTLS
properly, with a certificate the lab CA signed, and misbehaves after TLS.

  hostile_xmpp.py MODE IP CERT KEY
Prints the port it listens on, then serves every connection in MODE:
  close-mid-login  offers SASL PLAIN/SCRAM, and closes the TCP connection on <auth>
  stream-error     answers <auth> with a stream error (internal-server-error) and </stream>
  enormous         after TLS, sends a stream header and a <stream:features> that never
                   ends: text, 64 KiB every 5 ms (13 MB/s: the client's bound, not the
                   machine's CPU, is what ends it)
  drip             after TLS, sends one byte of the stream header a second
  anonymous-only   offers SASL ANONYMOUS only, and "succeeds" any <auth> then closes
"""
import socket
import ssl
import sys
import threading
import time

HEADER = (b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          b"xmlns:stream='http://etherx.jabber.org/streams' from='lab.test' id='h1' version='1.0'>")


def read_until(conn, marker, limit=65536):
    buf = b""
    while marker not in buf:
        chunk = conn.recv(4096)
        if not chunk:
            raise OSError("closed")
        buf += chunk
        if len(buf) > limit:
            raise OSError("too much")
    return buf


def serve(raw, mode, ctx):
    try:
        read_until(raw, b">")
        raw.sendall(HEADER + b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>"
                    b"<required/></starttls></stream:features>")
        read_until(raw, b"starttls")
        raw.sendall(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        conn = ctx.wrap_socket(raw, server_side=True)
        read_until(conn, b"version")
        if mode == "enormous":
            conn.sendall(HEADER + b"<stream:features><x xmlns='urn:example:huge'>")
            chunk = b"a" * 65536
            while True:
                conn.sendall(chunk)
                time.sleep(0.005)
        if mode == "drip":
            for b in HEADER:
                conn.sendall(bytes([b]))
                time.sleep(1)
            return
        mechanisms = (b"<mechanism>ANONYMOUS</mechanism>" if mode == "anonymous-only"
                      else b"<mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism>")
        conn.sendall(HEADER + b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                     + mechanisms + b"</mechanisms></stream:features>")
        read_until(conn, b"<auth")
        if mode == "anonymous-only":
            conn.sendall(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
            time.sleep(0.5)
        if mode == "stream-error":
            conn.sendall(b"<stream:error><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                         b"</stream:error></stream:stream>")
            time.sleep(0.5)
        conn.close()
    except (OSError, ssl.SSLError):
        pass


def main(argv):
    mode, ip, cert, key = argv[1:5]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = socket.socket()
    srv.bind((ip, 0))
    srv.listen(16)
    print(srv.getsockname()[1], flush=True)
    while True:
        raw, _ = srv.accept()
        threading.Thread(target=serve, args=(raw, mode, ctx), daemon=True).start()


if __name__ == "__main__":
    main(sys.argv)
