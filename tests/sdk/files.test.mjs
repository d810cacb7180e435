// Files through the router with the unmodified `e2b` package: write/read (text,
// bytes, streams, octet-stream + gzip), several files at once, list, info, makeDir,
// rename, remove, metadata, and the documented errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { Sandbox, FileNotFoundError } from 'e2b';

let sbx;
before(async () => {
  sbx = await Sandbox.create();
});
after(async () => {
  await sbx?.kill();
});

test('write then read text, owned by user with mode 0644', async () => {
  const info = await sbx.files.write('test_write.txt', 'This is a test file.');
  assert.equal(info.name, 'test_write.txt');
  assert.equal(info.path, '/home/user/test_write.txt');
  assert.equal(info.type, 'file');
  assert.equal(info.metadata, undefined, 'no metadata when none was sent');
  assert.equal(await sbx.files.read('test_write.txt'), 'This is a test file.');
  const st = await sbx.files.getInfo('test_write.txt');
  assert.equal(st.owner, 'user');
  assert.equal(st.mode, 0o644);
  assert.equal(st.size, 20);
});

test('bytes round trip, empty file, and gzip octet-stream upload', async () => {
  const data = new Uint8Array(300_000).map((_, i) => (i * 7) % 256);
  await sbx.files.write('/tmp/bin.dat', data.buffer);
  const back = await sbx.files.read('/tmp/bin.dat', { format: 'bytes' });
  assert.deepEqual(Buffer.from(back), Buffer.from(data));
  await sbx.files.write('/tmp/empty.txt', '');
  assert.equal(await sbx.files.read('/tmp/empty.txt'), '');
  await sbx.files.write('/tmp/gz.txt', 'compressed '.repeat(1000), { gzip: true });
  assert.equal(await sbx.files.read('/tmp/gz.txt'), 'compressed '.repeat(1000));
});

test('several files in one call, parents created', async () => {
  const infos = await sbx.files.write([
    { path: '/0/multi_test_file0.txt', data: 'zero' },
    { path: 'multi/dir/file1.txt', data: 'one' },
  ]);
  assert.equal(infos.length, 2);
  assert.equal(await sbx.files.read('/0/multi_test_file0.txt'), 'zero');
  assert.equal(await sbx.files.read('/home/user/multi/dir/file1.txt'), 'one');
});

test('large files: 128 MiB streamed up and down (sha256), three 8 MiB files in one multipart write, gzip', async () => {
  // A ReadableStream goes up as a chunked octet-stream body, generated as it is sent.
  const total = 128 << 20;
  const up = createHash('sha256');
  let sent = 0;
  const source = new ReadableStream({
    pull(controller) {
      if (sent >= total) return controller.close();
      const b = randomBytes(1 << 20);
      up.update(b);
      sent += b.length;
      controller.enqueue(b);
    },
  });
  const info = await sbx.files.write('big/stream.bin', source);
  assert.equal(info.path, '/home/user/big/stream.bin');
  const down = createHash('sha256');
  let got = 0;
  for await (const c of await sbx.files.read('big/stream.bin', { format: 'stream' })) {
    down.update(c);
    got += c.length;
  }
  assert.equal(got, total);
  assert.equal(down.digest('hex'), up.digest('hex'));

  const parts = [0, 1, 2].map(() => randomBytes(8 << 20));
  const infos = await sbx.files.write(parts.map((data, i) => ({ path: `big/part${i}.bin`, data })));
  assert.deepEqual(infos.map((e) => e.name), ['part0.bin', 'part1.bin', 'part2.bin']);
  for (const [i, data] of parts.entries()) {
    const back = await sbx.files.read(`big/part${i}.bin`, { format: 'bytes' });
    assert.ok(Buffer.from(back).equals(data), `part ${i} differs`);
  }

  const text = 'streamed and compressed\n'.repeat(1 << 20);
  await sbx.files.write('big/gz.txt', text, { gzip: true });
  assert.equal((await sbx.commands.run('wc -c < big/gz.txt; ls -A big | grep -c cube-upload || true')).stdout,
    `${text.length}\n0\n`);
  await sbx.files.remove('big');
});

test('list, exists, makeDir, rename, remove', async () => {
  assert.equal(await sbx.files.makeDir('tree/a/b'), true);
  assert.equal(await sbx.files.makeDir('tree/a/b'), false, 'existing dir returns false');
  await sbx.files.write('tree/file1.txt', '1');
  await sbx.files.write('tree/a/file2.txt', '2');
  const entries = await sbx.files.list('tree', { depth: 2 });
  assert.deepEqual(entries.map((e) => e.path), [
    '/home/user/tree/a', '/home/user/tree/a/b', '/home/user/tree/a/file2.txt', '/home/user/tree/file1.txt',
  ]);
  assert.equal(entries[0].type, 'dir');
  assert.equal(await sbx.files.exists('tree/file1.txt'), true);
  await sbx.files.rename('tree/file1.txt', 'tree/moved/file1.txt');
  assert.equal(await sbx.files.exists('tree/file1.txt'), false);
  assert.equal(await sbx.files.read('tree/moved/file1.txt'), '1');
  await sbx.files.remove('tree');
  assert.equal(await sbx.files.exists('tree'), false);
  await sbx.files.remove('tree'); // removing a missing path is not an error
});

test('metadata is stored with the file', async () => {
  const info = await sbx.files.write('meta.txt', 'x', { metadata: { author: 'mish', purpose: 'upload' } });
  assert.deepEqual(info.metadata, { author: 'mish', purpose: 'upload' });
  const st = await sbx.files.getInfo('meta.txt');
  assert.deepEqual(st.metadata, { author: 'mish', purpose: 'upload' });
});

test('errors: missing file, directory read, missing rename source', async () => {
  await assert.rejects(sbx.files.read('nope.txt'), FileNotFoundError);
  await assert.rejects(sbx.files.read('/home'), (e) => /is a directory/.test(e.message));
  await assert.rejects(sbx.files.rename('nope.txt', 'x.txt'), FileNotFoundError);
  await assert.rejects(sbx.files.getInfo('nope.txt'), FileNotFoundError);
});

test('files written by commands are readable and the other way round', async () => {
  await sbx.commands.run('echo from-shell > /home/user/shell.txt');
  assert.equal(await sbx.files.read('shell.txt'), 'from-shell\n');
  await sbx.files.write('api.txt', 'from-api');
  assert.equal((await sbx.commands.run('cat api.txt; stat -c %U api.txt')).stdout, 'from-apiuser\n');
});

test('watchDir reports writes, recursively, with entries', async () => {
  await sbx.files.makeDir('watched/sub');
  const events = [];
  const handle = await sbx.files.watchDir('watched', (e) => events.push(e), { recursive: true, includeEntry: true });
  await sbx.files.write('watched/a.txt', 'a');
  await sbx.files.write('watched/sub/b.txt', 'b');
  for (let i = 0; i < 30 && !events.some((e) => e.name === 'sub/b.txt'); i++) await new Promise((r) => setTimeout(r, 100));
  await handle.stop();
  assert.ok(events.some((e) => e.name === 'a.txt' && e.type === 'write'), JSON.stringify(events));
  assert.ok(events.some((e) => e.name === 'sub/b.txt'), JSON.stringify(events));
  const withEntry = events.find((e) => e.name === 'a.txt' && e.entry);
  assert.ok(withEntry && withEntry.entry.path === '/home/user/watched/a.txt');
});

// downloadUrl/uploadUrl are meant to be fetched without the SDK's routing headers.
// With E2B_SANDBOX_URL set (how these tests reach the gateway) the SDK puts that one
// base URL in them, which names no sandbox: nothing can route such a URL (E2B's own
// cloud never sets it). Without it, the SDK names the sandbox in the host,
// `https://49983-<id>.<E2B_DOMAIN>/files?…&signature=…`, and the gateway's host
// routing takes it with no header. TLS and wildcard DNS for that name are the
// deployment's (docs/configuration.md); here the request goes to the gateway's plain
// listener with exactly the SDK's host, path and query, and nothing else.
async function domainModeUrl(kind, path, opts) {
  const saved = process.env.E2B_SANDBOX_URL;
  delete process.env.E2B_SANDBOX_URL;
  try {
    const s = await Sandbox.connect(sbx.sandboxId);
    return new URL(await s[kind](path, opts));
  } finally {
    process.env.E2B_SANDBOX_URL = saved;
  }
}

function plain(url, method = 'GET', body = undefined, headers = {}) {
  const gw = new URL(process.env.E2B_API_URL);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: gw.hostname, port: gw.port, method, path: url.pathname + url.search,
        headers: { Host: url.host, ...headers } },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('downloadUrl: names the sandbox in the host, signed, fetched with no headers', async () => {
  await sbx.files.write('dl/plain.txt', 'fetched without the SDK');
  const url = await domainModeUrl('downloadUrl', 'dl/plain.txt');
  assert.equal(url.host, `49983-${sbx.sandboxId}.${process.env.E2B_DOMAIN}`);
  assert.equal(url.pathname, '/files');
  assert.ok(url.searchParams.get('signature')?.startsWith('v1_'));
  const r = await plain(url);
  assert.equal(r.status, 200, r.body.toString());
  assert.equal(r.body.toString(), 'fetched without the SDK');
  // The signature is the only credential: a changed path is refused.
  url.searchParams.set('path', 'dl/other.txt');
  assert.equal((await plain(url)).status, 401);
});

test('downloadUrl: an expired signature is refused', async () => {
  await sbx.files.write('dl/exp.txt', 'x');
  const url = await domainModeUrl('downloadUrl', 'dl/exp.txt', { useSignatureExpiration: 1 });
  await new Promise((r) => setTimeout(r, 2100));
  const r = await plain(url);
  assert.equal(r.status, 401);
  assert.match(r.body.toString(), /expired/);
});

test('uploadUrl: a plain multipart POST writes the file', async () => {
  const url = await domainModeUrl('uploadUrl', 'ul/plain.bin');
  const boundary = 'cubeplainupload';
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="plain.bin"\r\n` +
      'Content-Type: application/octet-stream\r\n\r\n'),
    Buffer.from([0, 1, 2, 255]),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const r = await plain(url, 'POST', body, { 'Content-Type': `multipart/form-data; boundary=${boundary}` });
  assert.equal(r.status, 200, r.body.toString());
  assert.deepEqual([...(await sbx.files.read('ul/plain.bin', { format: 'bytes' }))], [0, 1, 2, 255]);
});
