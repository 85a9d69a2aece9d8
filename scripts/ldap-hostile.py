#!/usr/bin/env python3
# A directory server that misbehaves on purpose, for `scripts/bench --ldap-hostile`
# (cleartext LDAP on loopback; the probe's tests have their own in Rust):
#
#   ldap-hostile.py ADDR PORT BEHAVIOUR
#
#   huge-length     the first answer's BER length says 2 GiB, then bytes without end
#   endless         binds succeed; every search gets new entries, without end (an
#                   abandon or the next request is read and answered)
#   huge-value      binds succeed; every search gets one entry with a 100 MB value
#   flood           binds succeed; every search gets 1,000,000 entries, then its end
#
# Prints "ready" once it listens; runs until killed.
import socket
import sys
import threading


def length(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag, value):
    return bytes([tag]) + length(len(value)) + value


def message(mid, op):
    return tlv(0x30, tlv(0x02, bytes([mid])) + op)


def result(tag, code):
    return tlv(tag, tlv(0x0A, bytes([code])) + tlv(0x04, b"") + tlv(0x04, b""))


def entry(mid, n):
    uid = b"user%09d" % n
    attrs = b"".join(
        tlv(0x30, tlv(0x04, name) + tlv(0x31, tlv(0x04, value)))
        for name, value in ((b"uid", uid), (b"mail", uid + b"@lab.test"), (b"displayName", b"User " + uid))
    )
    return message(mid, tlv(0x64, tlv(0x04, b"uid=" + uid + b",ou=people,dc=lab,dc=test") + tlv(0x30, attrs)))


def read_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def read_request(conn):
    head = read_exact(conn, 2)
    n = head[1]
    if n & 0x80:
        n = int.from_bytes(read_exact(conn, n & 0x7F), "big")
    body = read_exact(conn, n)
    # messageID INTEGER, then the operation's tag
    id_len = body[1]
    mid = body[1 + id_len]
    op = body[2 + id_len]
    return mid, op


def pending(conn):
    conn.setblocking(False)
    try:
        return len(conn.recv(1, socket.MSG_PEEK)) > 0
    except BlockingIOError:
        return False
    finally:
        conn.setblocking(True)


def session(conn, behaviour):
    n = 0
    try:
        while True:
            mid, op = read_request(conn)
            if behaviour == "huge-length":
                conn.sendall(b"\x30\x84\x7f\xff\xff\xff\x02\x01")
                junk = b"A" * 65536
                while True:
                    conn.sendall(junk)
            if op == 0x60:
                conn.sendall(message(mid, result(0x61, 0)))
            elif op == 0x63:
                if behaviour == "endless":
                    while True:
                        batch = b"".join(entry(mid, n + i) for i in range(256))
                        n += 256
                        conn.sendall(batch)
                        if pending(conn):
                            break
                elif behaviour == "huge-value":
                    value = b"x" * (100 << 20)
                    attr = tlv(0x30, tlv(0x04, b"displayName") + tlv(0x31, tlv(0x04, value)))
                    conn.sendall(message(mid, tlv(0x64, tlv(0x04, b"uid=alice,ou=people,dc=lab,dc=test") + tlv(0x30, attr))))
                    conn.sendall(message(mid, result(0x65, 0)))
                elif behaviour == "flood":
                    for start in range(0, 1_000_000, 1000):
                        conn.sendall(b"".join(entry(mid, start + i) for i in range(1000)))
                    conn.sendall(message(mid, result(0x65, 0)))
            elif op in (0x42, 0x50):
                if op == 0x42:
                    return
            else:
                conn.sendall(message(mid, result(0x78, 2)))
    except (EOFError, OSError):
        pass
    finally:
        conn.close()


def main():
    addr, port, behaviour = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(64)
    print("ready", flush=True)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=session, args=(conn, behaviour), daemon=True).start()


main()
