// Network isolation promises, each tried from inside a sandbox with the unmodified
// `e2b` package: a sandbox cannot open connections to the host (even to a service
// listening on the host end of its own veth), to another sandbox, or to link-local
// metadata addresses; the router still reaches it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Sandbox } from 'e2b';

const root = fileURLToPath(new URL('../..', import.meta.url));
const envdBin = [`${root}build/san/bin/cube-envd`, `${root}build/bin/cube-envd`].find(existsSync);
const addrOf = (id) =>
  execFileSync('redis-cli', ['-s', '/run/cube/redis.sock', 'hget', `cube:sb:${id}`, 'addr']).toString().trim();
const hostSide = (addr) => addr.replace(/\.(\d+)$/, (_, n) => `.${Number(n) - 1}`);
// Exit status of a probe run inside the sandbox (0 = connected).
const probe = async (sbx, cmd) => {
  const r = await sbx.commands.run(`${cmd} >/dev/null 2>&1; echo $?`, { timeoutMs: 15_000 });
  return Number(r.stdout.trim());
};

let a, b, listener;
before(async () => {
  [a, b] = await Promise.all([Sandbox.create(), Sandbox.create()]);
});
after(async () => {
  listener?.kill();
  await Promise.all([a?.kill(), b?.kill()]);
});

test('a sandbox cannot connect to a service on the host end of its own veth', async () => {
  const gw = hostSide(addrOf(a.sandboxId));
  const port = 20000 + Math.floor(Math.random() * 20000);
  listener = spawn(envdBin, ['--listen', `${gw}:${port}`], { stdio: 'ignore' });
  let up = false;
  for (let i = 0; i < 50 && !up; i++) {
    await new Promise((r) => setTimeout(r, 100));
    up = await fetch(`http://${gw}:${port}/health`).then((r) => r.status === 204, () => false);
  }
  assert.ok(up, 'control: the host-side listener answers the host');
  assert.notEqual(await probe(a, `curl -s -m 3 http://${gw}:${port}/health`), 0, 'sandbox reached the host');
});

test('a sandbox cannot reach the Prometheus admin listener', async () => {
  const admin = process.env.CUBE_ADMIN_LISTEN ?? '127.0.0.1:3090';
  const ok = await fetch(`http://${admin}/metrics`).then((r) => r.status === 200, () => false);
  assert.ok(ok, 'control: the host reaches the admin listener');
  const port = admin.split(':').pop();
  const gw = hostSide(addrOf(a.sandboxId));
  assert.notEqual(await probe(a, `curl -s -m 3 http://${gw}:${port}/metrics`), 0, 'via the veth');
  assert.notEqual(await probe(a, `curl -s -m 3 http://127.0.0.1:${port}/metrics`), 0, 'via loopback');
});

test('a sandbox cannot reach another sandbox', async () => {
  const other = addrOf(b.sandboxId);
  assert.notEqual(await probe(a, `curl -s -m 3 http://${other}:49983/health`), 0);
  assert.equal(await b.isRunning(), true, 'control: the router reaches the other sandbox');
});

test('a sandbox cannot reach link-local metadata or the host loopback', async () => {
  assert.notEqual(await probe(a, 'curl -s -m 3 http://169.254.169.254/'), 0);
  assert.notEqual(await probe(a, 'curl -s -m 3 http://127.0.0.1:3000/health'), 0, 'loopback is the sandbox\'s own');
  assert.notEqual(await probe(a, 'curl -s -m 3 http://127.0.0.1:6390/'), 0);
});
