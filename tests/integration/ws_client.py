"""WebSocket client (RFC 6455, python3 stdlib only) for tests/integration/websocket.sh.

Usage: python3 ws_client.py HOST:PORT HOSTHEADER [--header 'Name: value']... [--idle S]
Opens one connection, performs the upgrade handshake and checks Sec-WebSocket-Accept,
reads the server's greeting, sends a text message, a 70 KB binary message (16-bit
length), a 100 KB one (64-bit length), a fragmented text message and a ping, idles S
seconds, sends one more text message, then closes. Prints one JSON object; a refused
upgrade prints the status and body it got instead.
"""
import base64
import hashlib
import json
import os
import socket
import struct
import sys
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed")
        buf += chunk
    return buf


def send_frame(sock, opcode, payload, fin=True):
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(head + mask + body)


def read_frame(sock):
    b0, b1 = read_exact(sock, 2)
    n = b1 & 0x7F
    if b1 & 0x80:
        raise ValueError("server frame with a mask")
    if n == 126:
        n = struct.unpack("!H", read_exact(sock, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", read_exact(sock, 8))[0]
    return b0 & 0x0F, read_exact(sock, n)


def main():
    addr, host = sys.argv[1], sys.argv[2]
    extra, idle, i = [], 0.0, 3
    while i < len(sys.argv):
        if sys.argv[i] == "--header":
            extra.append(sys.argv[i + 1])
        elif sys.argv[i] == "--idle":
            idle = float(sys.argv[i + 1])
        i += 2
    h, _, p = addr.rpartition(":")
    sock = socket.create_connection((h, int(p)), timeout=30)
    key = base64.b64encode(os.urandom(16))
    req = ("GET /chat HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n" % (host, key.decode()))
    for e in extra:
        req += e + "\r\n"
    sock.sendall((req + "\r\n").encode())
    resp = b""
    while b"\r\n\r\n" not in resp:
        chunk = sock.recv(4096)
        if not chunk:
            break
        resp += chunk
    head, _, rest = resp.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1]) if lines and " " in lines[0] else 0
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if status != 101:
        body = rest
        n = int(headers.get("content-length", "0") or 0)
        while len(body) < n:
            chunk = sock.recv(4096)
            if not chunk:
                break
            body += chunk
        print(json.dumps({"status": status, "body": body.decode("utf-8", "replace")}))
        return
    out = {"status": 101}
    want = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
    out["accept_ok"] = headers.get("sec-websocket-accept") == want
    # the proxy may have read past the handshake: frames already in `rest`
    pending = [rest]

    class Buffered:
        def recv(self, n):
            if pending[0]:
                d, pending[0] = pending[0][:n], pending[0][n:]
                return d
            return sock.recv(n)

    rd = Buffered()
    out["greeting"] = read_frame(rd)[1].decode()
    send_frame(sock, 1, "héllo through the router".encode())
    op, data = read_frame(rd)
    out["text_echo"] = op == 1 and data.decode() == "héllo through the router"
    for size in (70000, 100000):
        blob = os.urandom(size)
        send_frame(sock, 2, blob)
        op, data = read_frame(rd)
        out["binary_%d" % size] = op == 2 and data == blob
    send_frame(sock, 1, b"frag-", fin=False)
    send_frame(sock, 0, b"mented")
    op, data = read_frame(rd)
    out["fragmented"] = op == 1 and data == b"frag-mented"
    send_frame(sock, 9, b"are you there")
    op, data = read_frame(rd)
    out["pong"] = op == 10 and data == b"are you there"
    time.sleep(idle)
    send_frame(sock, 1, b"after the idle time")
    op, data = read_frame(rd)
    out["after_idle"] = op == 1 and data == b"after the idle time"
    send_frame(sock, 8, struct.pack("!H", 1000))
    op, data = read_frame(rd)
    out["close"] = op == 8 and data[:2] == struct.pack("!H", 1000)
    sock.close()
    print(json.dumps(out))


if __name__ == "__main__":
    try:
        main()
    except (OSError, ValueError, ConnectionError) as e:
        print(json.dumps({"status": -1, "error": str(e)}))
