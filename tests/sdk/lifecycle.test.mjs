// Timeouts with the unmodified `e2b` package: a sandbox is gone shortly after its
// endAt; setTimeout moves endAt (both ways).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox, SandboxNotFoundError } from 'e2b';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('a sandbox is killed when its timeout passes', async () => {
  const sbx = await Sandbox.create({ timeoutMs: 2000 });
  const info = await sbx.getInfo();
  assert.ok(info.endAt.getTime() - info.startedAt.getTime() <= 2100);
  assert.equal(await sbx.isRunning(), true);
  await sleep(3500);
  assert.equal(await sbx.isRunning(), false);
  await assert.rejects(sbx.getInfo(), SandboxNotFoundError);
});

test('setTimeout extends a sandbox and can shorten it again', async () => {
  const sbx = await Sandbox.create({ timeoutMs: 2000 });
  try {
    await sleep(500);
    await sbx.setTimeout(10_000);
    await sleep(3000);
    assert.equal(await sbx.isRunning(), true, 'extended sandbox must outlive its first timeout');
    const r = await sbx.commands.run('echo alive');
    assert.equal(r.stdout, 'alive\n');
    await sbx.setTimeout(1000);
    await sleep(2500);
    assert.equal(await sbx.isRunning(), false, 'shortened sandbox must be gone');
  } finally {
    await Sandbox.kill(sbx.sandboxId).catch(() => {});
  }
});

test('getInfo endAt is stable between calls', async () => {
  const sbx = await Sandbox.create({ timeoutMs: 60_000 });
  try {
    const a = await sbx.getInfo();
    await sleep(300);
    const b = await sbx.getInfo();
    assert.equal(a.endAt.getTime(), b.endAt.getTime());
  } finally {
    await sbx.kill();
  }
});

test('connect extends a running sandbox but never shortens it', async () => {
  const sbx = await Sandbox.create({ timeoutMs: 300_000 });
  try {
    const before = (await sbx.getInfo()).endAt.getTime();
    const same = await Sandbox.connect(sbx.sandboxId, { timeoutMs: 10_000 });
    assert.equal(same.sandboxId, sbx.sandboxId);
    const after = (await sbx.getInfo()).endAt.getTime();
    assert.equal(after, before, 'a shorter connect timeout must leave endAt alone');
    await Sandbox.connect(sbx.sandboxId, { timeoutMs: 900_000 });
    const longer = (await sbx.getInfo()).endAt.getTime();
    assert.ok(longer >= before + 500_000, `a longer connect timeout extends endAt (${longer - before} ms)`);
    assert.equal((await same.commands.run('echo ok')).stdout, 'ok\n');
  } finally {
    await Sandbox.kill(sbx.sandboxId).catch(() => {});
  }
});
