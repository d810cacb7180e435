#!/usr/bin/env python3
"""Backpressure check for cube-ci: run code that prints N MiB to stdout, read the
first bytes of the NDJSON reply, stall, sample cube-ci's resident memory, then read
the rest and check that every byte of output arrived before end_of_execution.

usage: ci_slow_reader.py HOST PORT CI_PID MIB STALL_S
prints: "rss_stalled_kb=<n> x_count=<n> expected=<n> end=<0|1>"
"""
import json
import socket
import sys
import time

host, port, pid, mib, stall = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
LINE = 65535
lines = mib * 1024 * 1024 // (LINE + 1)
code = ("import sys\nfor _ in range(%d):\n    sys.stdout.write('x' * %d + '\\n')\n" % (lines, LINE))
body = json.dumps({"code": code}).encode()
s = socket.create_connection((host, port))
# A small receive buffer so the kernel's socket buffers do not absorb the output.
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
s.sendall(b"POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
data = bytearray(s.recv(4096))
time.sleep(stall)


def rss_kb():
    for l in open("/proc/%s/status" % pid):
        if l.startswith("VmRSS:"):
            return int(l.split()[1])
    return -1


rss = rss_kb()
while True:
    chunk = s.recv(1 << 20)
    if not chunk:
        break
    data += chunk
head, _, rest = bytes(data).partition(b"\r\n\r\n")
# Undo chunked transfer coding.
out = bytearray()
i = 0
while i < len(rest):
    j = rest.index(b"\r\n", i)
    n = int(rest[i:j].split(b";")[0], 16)
    if n == 0:
        break
    out += rest[j + 2:j + 2 + n]
    i = j + 2 + n + 2
count = 0
end = 0
for l in out.splitlines():
    ev = json.loads(l)
    if ev["type"] == "stdout":
        count += ev["text"].count("x")
    end = 1 if ev["type"] == "end_of_execution" else 0
print("rss_stalled_kb=%d x_count=%d expected=%d end=%d" % (rss, count, lines * LINE, end))
