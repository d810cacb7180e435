"""WebSocket echo server (RFC 6455, python3 stdlib only), a fixture that
tests/integration/websocket.sh runs inside a sandbox: the base template has python3
but no WebSocket library.

Usage: python3 ws_echo.py PORT
Per connection: answers the opening handshake, sends one text frame "hello <path>"
(server -> client traffic that is not an echo), then echoes every text and binary
message with its opcode, answers pings, and echoes a close frame before closing.
Fragmented messages are reassembled; client frames must be masked (RFC 6455 5.1).
"""
import base64
import hashlib
import socket
import struct
import sys
import threading

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def read_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed")
        buf += chunk
    return buf


def send_frame(conn, opcode, payload):
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    conn.sendall(head + payload)


def read_frame(conn):
    b0, b1 = read_exact(conn, 2)
    fin, opcode, masked, n = b0 & 0x80, b0 & 0x0F, b1 & 0x80, b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", read_exact(conn, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", read_exact(conn, 8))[0]
    if not masked:
        raise ValueError("client frame without a mask")
    mask = read_exact(conn, 4)
    data = bytearray(read_exact(conn, n))
    for i in range(n):
        data[i] ^= mask[i % 4]
    return bool(fin), opcode, bytes(data)


def handshake(conn):
    req = b""
    while b"\r\n\r\n" not in req:
        chunk = conn.recv(4096)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        req += chunk
    lines = req.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    path = lines[0].split(" ")[1]
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if headers.get("upgrade", "").lower() != "websocket" or "sec-websocket-key" not in headers:
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        raise ValueError("not a websocket upgrade")
    accept = base64.b64encode(hashlib.sha1(headers["sec-websocket-key"].encode() + GUID).digest())
    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    return path


def serve(conn):
    try:
        path = handshake(conn)
        send_frame(conn, 1, ("hello " + path).encode())
        msg, msg_op = b"", 0
        while True:
            fin, opcode, data = read_frame(conn)
            if opcode == 8:
                send_frame(conn, 8, data[:2])
                return
            if opcode == 9:
                send_frame(conn, 10, data)
                continue
            if opcode in (1, 2):
                msg, msg_op = data, opcode
            elif opcode == 0:
                msg += data
            if fin and msg_op:
                send_frame(conn, msg_op, msg)
                msg, msg_op = b"", 0
    except (ConnectionError, ValueError, OSError):
        pass
    finally:
        conn.close()


def main():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", int(sys.argv[1])))
    srv.listen(64)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
