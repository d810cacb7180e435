#!/usr/bin/env python3
"""The worker <-> envd channel (common/cube_chan.h), driven from the host without the
stack: this script plays the worker's end of the socketpair, starts cube-envd (and
cube-init) with the other end as fd 3, and checks readiness, the init's ordering before
HTTP requests, that the channel closes after the init, that a bad init locks envd
instead of leaving it open, the POST /init fallback, and cube-init's hand-off.

    envd_channel.py BIN-DIR      (prints ok / not ok lines; exit 1 if any failed)
"""
import http.client
import json
import os
import signal
import socket
import sys
import tempfile
import time

BIN = sys.argv[1]
ENVD = os.path.join(BIN, "cube-envd")
INIT = os.path.join(BIN, "cube-init")
TMP = tempfile.mkdtemp(prefix="envd-chan.")
LOG = os.path.join(TMP, "envd.log")
failed = 0
procs = []


def check(name, cond, detail=""):
    global failed
    if cond:
        print(f"ok - {name}")
    else:
        failed += 1
        print(f"not ok - {name}" + (f" ({detail})" if detail else ""))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def spawn(argv, chan):
    """fork + exec argv with chan as fd 3 (and nothing else but stdio)."""
    pid = os.fork()
    if pid == 0:
        try:
            log = os.open(LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.dup2(log, 1)
            os.dup2(log, 2)
            if chan is not None:
                os.dup2(chan, 3)  # dup2 makes it inheritable
            os.closerange(4, 4096)
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    procs.append(pid)
    return pid


def start(via_init=False):
    """Start envd (or cube-init + envd) with a channel. Returns (worker end, port, pid)."""
    worker, sandbox = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    port = free_port()
    listen = f"127.0.0.1:{port}"
    if via_init:
        argv = [INIT, "--channel-fd", "3", "--", ENVD, "--listen", listen]
    else:
        argv = [ENVD, "--listen", listen, "--channel-fd", "3"]
    pid = spawn(argv, sandbox.fileno())
    sandbox.close()
    worker.settimeout(10)
    return worker, port, pid


def stop(pid):
    try:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
    if pid in procs:
        procs.remove(pid)


def recv_or(sock, default=None, timeout=10):
    sock.settimeout(timeout)
    try:
        return sock.recv(64)
    except (socket.timeout, OSError):
        return default


def request(conn, method, path, token=None, body=None):
    headers = {"X-Access-Token": token} if token else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    return r.status, r.read()


def get(port, path, token=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        return request(c, "GET", path, token)
    finally:
        c.close()


def init_msg(token, var):
    body = {"envVars": {"CHAN_T": var}, "accessToken": token, "defaultUser": "root",
            "sandboxID": "ichantest", "templateID": "tchantest"}
    return b"I" + json.dumps(body).encode()


def env_has(body, var):
    try:
        return json.loads(body).get("CHAN_T") == var
    except ValueError:
        return False


def fd_flags(pid, fd):
    try:
        with open(f"/proc/{pid}/fdinfo/{fd}") as f:
            for line in f:
                if line.startswith("flags:"):
                    return int(line.split()[1], 8)
    except OSError:
        return None
    return None


def sockets_of(pid):
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            t = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if t.startswith("socket:"):
            out.add(t)
    return out


def envd_child(ipid, not_pid=-1):
    """cube-init's envd child once it has exec'd (a fork shows cube-init's cmdline
    until then): (pid, argv) or (-1, None)."""
    for _ in range(100):
        try:
            with open(f"/proc/{ipid}/task/{ipid}/children") as f:
                kids = [int(k) for k in f.read().split() if int(k) != not_pid]
            for k in kids:
                with open(f"/proc/{k}/cmdline", "rb") as f:
                    cmd = f.read().split(b"\0")
                if cmd and cmd[0].endswith(b"cube-envd"):
                    return k, cmd
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    return -1, None


def main():
    # ---- readiness, ordering, close after init --------------------------------------
    ready_ok = listening_ok = order_old = order_new = closed_ok = True
    detail = ""
    for i in range(10):
        worker, port, pid = start()
        msg = recv_or(worker)
        if msg != b"R":
            ready_ok = False
            detail = f"got {msg!r}"
            stop(pid)
            continue
        if i == 0:
            flags = fd_flags(pid, 3)
            check("envd's channel fd is close-on-exec (processes it starts never get it)",
                  flags is not None and flags & 0o2000000, f"flags {flags}")
        # Listening by the time it says ready: one connect, no retry.
        early = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            early.connect()
        except OSError:
            listening_ok = False
            stop(pid)
            continue
        tok = f"tok{i}x" * 4
        worker.send(init_msg(tok, f"v{i}"))
        # At once, on the connection opened before the init and on a new one.
        st, body = request(early, "GET", "/envs", tok)
        if st != 200 or not env_has(body, f"v{i}"):
            order_old = False
            detail = f"old connection: {st} {body[:120]!r}"
        early.close()
        st, body = get(port, "/envs")
        if st != 401:
            order_new = False
            detail = f"new connection without token: {st}"
        st, body = get(port, "/envs", tok)
        if st != 200 or not env_has(body, f"v{i}"):
            order_new = False
            detail = f"new connection: {st}"
        # envd closes its end after the init: nothing is left to write to.
        if recv_or(worker, b"timeout", 5) != b"":
            closed_ok = False
        worker.close()
        stop(pid)
    check("envd says ready (one 'R' datagram) on the channel", ready_ok, detail)
    check("envd listens when it says ready", listening_ok)
    check("the init sent on the channel applies before a request on a connection "
          "opened earlier (10 runs)", order_old, detail)
    check("the init applies before a request on a new connection: token enforced, "
          "env set (10 runs)", order_new, detail)
    check("envd closes the channel after the init (the worker's end sees EOF)",
          closed_ok)

    # ---- a broken init locks envd ---------------------------------------------------
    worker, port, pid = start()
    recv_or(worker)
    st0, _ = get(port, "/envs")
    worker.send(b"I{not json")
    st1, _ = get(port, "/envs")
    st2, _ = get(port, "/envs", "guess")
    check("an init envd cannot parse leaves it locked (no token -> 401), not open",
          st0 == 200 and st1 == 401 and st2 == 401, f"before {st0}, after {st1}/{st2}")
    worker.close()
    stop(pid)

    # ---- the worker goes away before the init: POST /init still works ---------------
    worker, port, pid = start()
    recv_or(worker)
    worker.close()
    time.sleep(0.2)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    st, _ = request(c, "POST", "/init", None,
                    json.dumps({"accessToken": "httptok", "envVars": {"CHAN_T": "h"}}))
    c.close()
    st2, body = get(port, "/envs", "httptok")
    check("after the channel closes unused, POST /init applies the init",
          st in (200, 204) and st2 == 200 and env_has(body, "h"), f"{st} {st2}")
    stop(pid)

    # ---- bad --channel-fd -------------------------------------------------------------
    r, w = os.pipe()
    pid = spawn([ENVD, "--listen", f"127.0.0.1:{free_port()}", "--channel-fd", "3"], r)
    os.close(r)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    procs.remove(pid)
    check("envd refuses a --channel-fd that is not a SEQPACKET socket",
          os.WIFEXITED(status) and os.WEXITSTATUS(status) != 0, f"status {status}")
    pid = spawn([INIT, "--channel-fd", "9", "--", ENVD, "--listen",
                 f"127.0.0.1:{free_port()}"], None)
    _, status = os.waitpid(pid, 0)
    procs.remove(pid)
    check("cube-init refuses a --channel-fd that is not open",
          os.WIFEXITED(status) and os.WEXITSTATUS(status) == 2, f"status {status}")

    # ---- cube-init hands the channel to the first envd and keeps no copy ------------
    worker, port, ipid = start(via_init=True)
    msg = recv_or(worker)
    check("through cube-init: envd says ready on the channel", msg == b"R", repr(msg))
    envd, cmd = envd_child(ipid)
    check("cube-init starts envd with --channel-fd 3",
          cmd is not None and cmd[-3:-1] == [b"--channel-fd", b"3"], repr(cmd))
    check("cube-init keeps no socket (its copy of the channel is closed)",
          not sockets_of(ipid), repr(sockets_of(ipid)))
    # envd dies before any init: the worker must see EOF (nobody else holds it).
    if envd > 0:
        os.kill(envd, signal.SIGKILL)
    check("envd dying before the init closes the channel (EOF at the worker)",
          recv_or(worker, b"timeout", 5) == b"")
    worker.close()
    _, cmd2 = envd_child(ipid, not_pid=envd)
    check("a restarted envd runs without the channel",
          cmd2 is not None and b"--channel-fd" not in cmd2, repr(cmd2))
    stop(ipid)


try:
    main()
finally:
    for p in list(procs):
        stop(p)
    if failed:
        try:
            with open(LOG, errors="replace") as f:
                sys.stderr.write(f.read()[-3000:])
        except OSError:
            pass
    for name in os.listdir(TMP):
        os.unlink(os.path.join(TMP, name))
    os.rmdir(TMP)
sys.exit(1 if failed else 0)
