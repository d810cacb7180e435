#!/usr/bin/env python3
"""process.Process/StreamInput against a running envd (called by envd_standalone.sh).

usage: stream_input.py PORT TOKEN

Prints one "ok - ..." or "not ok - ..." line per check. The stream is sent as a
chunked body one envelope at a time, so the checks see input reach the process
while the request is still open, which is what a client-streaming call is for."""
import json
import socket
import struct
import sys
import threading
import time

PORT, TOKEN = int(sys.argv[1]), sys.argv[2]
results = []


def check(name, cond, detail=''):
    results.append(cond)
    print(('ok - ' if cond else 'not ok - ') + 'StreamInput: ' + name +
          ('' if cond or not detail else ' (' + str(detail)[:300] + ')'))


def envelope(obj, flags=0):
    data = json.dumps(obj).encode() if not isinstance(obj, bytes) else obj
    return struct.pack('>BI', flags, len(data)) + data


def chunk(data):
    return b'%x\r\n' % len(data) + data + b'\r\n'


def b64(s):
    import base64
    return base64.b64encode(s.encode()).decode()


def read_response(sock, timeout=10):
    """One HTTP/1.1 response (Content-Length or chunked): (status, headers, body)."""
    sock.settimeout(timeout)
    buf = b''
    while b'\r\n\r\n' not in buf:
        more = sock.recv(65536)
        if not more:
            raise EOFError('connection closed before the head: %r' % buf)
        buf += more
    head, rest = buf.split(b'\r\n\r\n', 1)
    lines = head.decode().split('\r\n')
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (l.split(':', 1) for l in lines[1:])}
    body = b''
    if headers.get('transfer-encoding', '').lower() == 'chunked':
        while True:
            while b'\r\n' not in rest:
                rest += sock.recv(65536)
            size_line, rest = rest.split(b'\r\n', 1)
            size = int(size_line.split(b';')[0], 16)
            while len(rest) < size + 2:
                rest += sock.recv(65536)
            body, rest = body + rest[:size], rest[size + 2:]
            if size == 0:
                break
    else:
        n = int(headers.get('content-length', '0'))
        while len(rest) < n:
            rest += sock.recv(65536)
        body = rest[:n]
    return status, headers, body


def envelopes(body):
    out = []
    while len(body) >= 5:
        flags, n = struct.unpack('>BI', body[:5])
        out.append((flags, json.loads(body[5:5 + n])))
        body = body[5 + n:]
    return out


def open_stream(token=TOKEN, ctype='application/connect+json'):
    s = socket.create_connection(('127.0.0.1', PORT))
    head = ('POST /process.Process/StreamInput HTTP/1.1\r\nHost: x\r\n'
            'Content-Type: %s\r\nConnect-Protocol-Version: 1\r\n'
            'Transfer-Encoding: chunked\r\n' % ctype)
    if token:
        head += 'X-Access-Token: %s\r\n' % token
    s.sendall((head + '\r\n').encode())
    return s


def unary(method, msg):
    s = socket.create_connection(('127.0.0.1', PORT))
    body = json.dumps(msg).encode()
    s.sendall(('POST /process.Process/%s HTTP/1.1\r\nHost: x\r\nContent-Type: '
               'application/json\r\nX-Access-Token: %s\r\nContent-Length: %d\r\n\r\n' %
               (method, TOKEN, len(body))).encode() + body)
    st, _, b = read_response(s)
    s.close()
    return st, json.loads(b or b'{}')


class Started:
    """A process started with Process/Start, its stream read in the background."""

    def __init__(self, script, tag):
        self.out = b''
        self.end = None
        self.pid = None
        self.sock = socket.create_connection(('127.0.0.1', PORT))
        req = envelope({'process': {'cmd': '/bin/sh', 'args': ['-c', script]}, 'tag': tag})
        self.sock.sendall(('POST /process.Process/Start HTTP/1.1\r\nHost: x\r\n'
                           'Content-Type: application/connect+json\r\nX-Access-Token: %s\r\n'
                           'Content-Length: %d\r\n\r\n' % (TOKEN, len(req))).encode() + req)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        import base64
        buf = b''
        self.sock.settimeout(20)
        try:
            while True:
                more = self.sock.recv(65536)
                if not more:
                    return
                buf += more
                self.out = b''
                for ev in (json.loads(x) for x in _payloads(buf)):
                    e = ev.get('event', {})
                    if 'start' in e:
                        self.pid = e['start']['pid']
                    if 'data' in e and 'stdout' in e['data']:
                        self.out += base64.b64decode(e['data']['stdout'])
                    if 'end' in e:
                        self.end = e['end']
        except OSError:
            return

    def wait_for(self, what, timeout=5):
        t = time.time() + timeout
        while time.time() < t:
            if what(self):
                return True
            time.sleep(0.01)
        return False


def _payloads(buf):
    """The JSON payloads of the envelopes inside a chunked HTTP body seen so far."""
    if b'\r\n\r\n' not in buf:
        return []
    rest = buf.split(b'\r\n\r\n', 1)[1]
    body = b''
    while b'\r\n' in rest:
        size_line, after = rest.split(b'\r\n', 1)
        try:
            size = int(size_line.split(b';')[0], 16)
        except ValueError:
            break
        if len(after) < size + 2:
            break
        body += after[:size]
        rest = after[size + 2:]
        if size == 0:
            break
    out = []
    while len(body) >= 5:
        n = struct.unpack('>I', body[1:5])[0]
        if len(body) < 5 + n:
            break
        out.append(body[5:5 + n])
        body = body[5 + n:]
    return out


# 1. Input reaches the process while the stream is still open.
p = Started('read a; echo got:$a; read b; echo got:$b', 'si-1')
check('the process to feed started', p.wait_for(lambda x: x.pid is not None), p.out)
s = open_stream()
s.sendall(chunk(envelope({'start': {'process': {'pid': p.pid}}})) +
          chunk(envelope({'data': {'input': {'stdin': b64('one\n')}}})))
check('input arrives before the stream ends', p.wait_for(lambda x: b'got:one' in x.out),
      p.out)
s.sendall(chunk(envelope({'keepalive': {}})) +
          chunk(envelope({'data': {'input': {'stdin': b64('two\n')}}})) + b'0\r\n\r\n')
st, hd, body = read_response(s)
evs = envelopes(body)
check('the answer is 200 connect+json with {} then end-stream {}',
      st == 200 and hd.get('content-type') == 'application/connect+json' and
      evs == [(0, {}), (2, {})], (st, hd, body))
check('all the input was delivered and the process ended',
      p.wait_for(lambda x: x.end is not None and b'got:two' in x.out), (p.out, p.end))
# 2. The connection is kept: a request after the stream is answered on it.
s.sendall(b'GET /health HTTP/1.1\r\nHost: x\r\n\r\n')
st, _, _ = read_response(s)
check('keep-alive: the next request on the connection is answered', st == 204, st)
s.close()

# 3. Selection by tag, and input to a process that ends meanwhile.
p = Started('read a; echo tag:$a', 'si-tag')
p.wait_for(lambda x: x.pid is not None)
s = open_stream()
s.sendall(chunk(envelope({'start': {'process': {'tag': 'si-tag'}}})) +
          chunk(envelope({'data': {'input': {'stdin': b64('x\n')}}})))
check('selection by tag feeds that process', p.wait_for(lambda x: x.end is not None), p.out)
s.sendall(chunk(envelope({'data': {'input': {'stdin': b64('late\n')}}})) + b'0\r\n\r\n')
st, _, body = read_response(s)
evs = envelopes(body)
check('input after the process ended is not_found',
      st == 200 and len(evs) == 1 and evs[0][0] == 2 and
      evs[0][1].get('error', {}).get('code') == 'not_found', body)
s.close()


def one_shot(name, msgs, code, **kw):
    s = open_stream(**kw)
    s.sendall(b''.join(chunk(m) for m in msgs) + b'0\r\n\r\n')
    try:
        st, _, body = read_response(s)
        evs = envelopes(body)
        got = evs[-1][1].get('error', {}).get('code') if evs else None
        check(name, st == 200 and got == code and evs[-1][0] == 2, (st, body))
    except (OSError, EOFError, ValueError) as e:
        check(name, False, e)
    s.close()


# 4. Errors: each in the documented shape (200, end-stream with the code).
one_shot('unknown pid is not_found', [envelope({'start': {'process': {'pid': 999999}}})],
         'not_found')
one_shot('data before start is invalid_argument',
         [envelope({'data': {'input': {'stdin': b64('x')}}})], 'invalid_argument')
one_shot('an unknown tag is not_found', [envelope({'start': {'process': {'tag': 'none-such'}}})],
         'not_found')
p = Started('read a', 'si-twice')
p.wait_for(lambda x: x.pid is not None)
one_shot('a second start is invalid_argument',
         [envelope({'start': {'process': {'pid': p.pid}}}),
          envelope({'start': {'process': {'pid': p.pid}}})], 'invalid_argument')
unary('SendSignal', {'process': {'pid': p.pid}, 'signal': 'SIGNAL_SIGKILL'})
one_shot('malformed JSON is invalid_argument', [envelope(b'{"start":')], 'invalid_argument')
one_shot('an end-stream flag in the request is invalid_argument',
         [envelope({'keepalive': {}}, flags=2)], 'invalid_argument')
one_shot('an envelope over 16 MiB is resource_exhausted',
         [struct.pack('>BI', 0, (16 << 20) + 1) + b'{'], 'resource_exhausted')
one_shot('a truncated envelope is invalid_argument', [envelope({'keepalive': {}})[:-1]],
         'invalid_argument')
one_shot('no token is unauthenticated', [envelope({'keepalive': {}})], 'unauthenticated',
         token=None)
one_shot('a wrong token is unauthenticated', [envelope({'keepalive': {}})],
         'unauthenticated', token='wrong')
one_shot('the unary Content-Type is invalid_argument', [envelope({'keepalive': {}})],
         'invalid_argument', ctype='application/json')

# 5. A refused stream is answered at once, before its body ends, and drops the rest.
s = open_stream(token='wrong')
s.sendall(chunk(envelope({'keepalive': {}})))
try:
    st, _, body = read_response(s, timeout=5)
    ok = st == 200 and envelopes(body)[-1][1]['error']['code'] == 'unauthenticated'
except (OSError, EOFError, ValueError, KeyError, IndexError) as e:
    ok, body = False, e
check('a refused stream is answered before its body ends', ok, body)
s.sendall(chunk(envelope({'data': {'input': {'stdin': b64('dropped')}}})) + b'0\r\n\r\n' +
          b'GET /health HTTP/1.1\r\nHost: x\r\n\r\n')
st, _, _ = read_response(s)
check('the rest of a refused stream is dropped and the connection goes on', st == 204, st)
s.close()

sys.exit(0 if all(results) else 1)
