#!/usr/bin/env python3
"""A minimal XMPP client (standard library only) for the lab's own tests.

  xmpp.py login IP DOMAIN USER PASSWORD_FILE CA
      STARTTLS (certificate verified against CA for DOMAIN), SASL PLAIN, bind.
  xmpp.py message IP DOMAIN USER PASSWORD_FILE CA  PEER_IP PEER_DOMAIN PEER_USER PEER_PASSWORD_FILE
      both log in; USER sends a message to PEER_USER@PEER_DOMAIN; the peer must get it.
  xmpp.py block|unblock IP DOMAIN USER PASSWORD_FILE CA JID
      USER blocks (XEP-0191) JID: the server then drops JID's stanzas to USER silently,
      a subscription request among them (the fault of a contact who never answers).
"""
import base64
import re
import socket
import ssl
import sys
import time
import uuid

NS = "xmlns:stream='http://etherx.jabber.org/streams'"


class Client:
    def __init__(self, ip, domain, ca):
        self.domain = domain
        self.sock = socket.create_connection((ip, 5222), timeout=5)
        self.buf = b""
        self.open()
        features = self.expect(b"</stream:features>")
        if b"xmpp-tls" not in features:
            raise RuntimeError("no STARTTLS offered")
        self.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        self.expect(b"<proceed")
        ctx = ssl.create_default_context(cafile=ca)
        self.sock = ctx.wrap_socket(self.sock, server_hostname=domain)
        self.buf = b""
        self.open()
        self.expect(b"</stream:features>")

    def open(self):
        self.send("<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' %s version='1.0'>"
                  % (self.domain, NS))

    def send(self, s):
        self.sock.sendall(s.encode())

    def expect(self, marker, timeout=5):
        end = time.time() + timeout
        while marker not in self.buf:
            if time.time() > end:
                raise RuntimeError("timed out waiting for %r; got %r" % (marker, self.buf[-300:]))
            self.sock.settimeout(max(0.1, end - time.time()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise RuntimeError("stream closed waiting for %r; got %r" % (marker, self.buf[-300:]))
            self.buf += chunk
            if b"<failure" in self.buf or b"<stream:error" in self.buf:
                raise RuntimeError("server said: %r" % self.buf[-300:])
        i = self.buf.index(marker) + len(marker)
        seen, self.buf = self.buf[:i], self.buf[i:]
        return seen

    def login(self, user, password):
        cred = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
        self.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>" % cred)
        self.expect(b"<success")
        self.buf = b""
        self.open()
        self.expect(b"</stream:features>")
        self.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                  "<resource>labtest</resource></bind></iq>")
        jid = self.expect(b"</jid>")
        self.send("<presence/>")
        return re.search(rb"<jid>([^<]+)</jid>", jid).group(1).decode()


def main(argv):
    ip, domain, user, pwfile, ca = argv[2:7]
    a = Client(ip, domain, ca)
    jid = a.login(user, open(pwfile).read().strip())
    if argv[1] == "login":
        print("logged in as", jid)
        return 0
    if argv[1] in ("block", "unblock"):
        a.send("<iq type='set' id='blk1'><%s xmlns='urn:xmpp:blocking'><item jid='%s'/></%s></iq>"
               % (argv[1], argv[7], argv[1]))
        reply = a.expect(b"id='blk1'", timeout=5) + a.expect(b">", timeout=5)
        if b"type='result'" not in reply and b'type="result"' not in reply:
            raise RuntimeError("the server refused: %r" % reply)
        print("%s %sed %s" % (jid, argv[1], argv[7]))
        return 0
    pip, pdomain, puser, ppwfile = argv[7:11]
    b = Client(pip, pdomain, ca)
    b.login(puser, open(ppwfile).read().strip())
    token = uuid.uuid4().hex
    to = "%s@%s" % (puser, pdomain)
    deadline = time.time() + 15
    # s2s may take a moment to come up; resend until it arrives.
    while True:
        a.send("<message to='%s' type='chat' id='%s'><body>%s</body></message>" % (to, token, token))
        try:
            b.expect(token.encode(), timeout=3)
            print("message from %s reached %s" % (jid, to))
            return 0
        except RuntimeError:
            if time.time() > deadline:
                raise


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (OSError, RuntimeError, ssl.SSLError) as e:
        print("xmpp.py: %s" % e, file=sys.stderr)
        sys.exit(1)
