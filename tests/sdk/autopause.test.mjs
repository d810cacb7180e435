// AutoPause driven by routed traffic, with the unmodified `e2b` package: a sandbox
// created with onTimeout 'pause' stays running while its routed traffic goes on (its
// endAt moves), is paused once the traffic has been idle for its timeout, and a routed
// request with autoResume wakes it with its files and processes. Without autoPause the
// timeout stays a hard lifetime, traffic or not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox } from 'e2b';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const TIMEOUT_MS = 4000;

// Polls getInfo until the state is `want`; returns ms waited, or -1 after `limit` ms.
async function waitState(id, want, limit) {
  const t0 = Date.now();
  while (Date.now() - t0 < limit) {
    if ((await Sandbox.getInfo(id)).state === want) return Date.now() - t0;
    await sleep(100);
  }
  return -1;
}

test('autoPause: traffic keeps it running, idle pauses it, traffic resumes it with its state', async () => {
  const sbx = await Sandbox.create({
    timeoutMs: TIMEOUT_MS,
    lifecycle: { onTimeout: 'pause', autoResume: true },
  });
  try {
    await sbx.commands.run('echo kept > /home/user/state.txt');
    const bg = await sbx.commands.run('sleep 3600', { background: true });
    await bg.disconnect(); // an open output stream would count as activity
    const firstEnd = (await sbx.getInfo()).endAt.getTime();

    // Routed traffic every second for twice the timeout.
    const t0 = Date.now();
    let lastRequest = 0;
    while (Date.now() - t0 < 2 * TIMEOUT_MS) {
      assert.equal((await sbx.commands.run('true')).exitCode, 0);
      lastRequest = Date.now();
      await sleep(1000);
    }
    const busy = await sbx.getInfo();
    assert.equal(busy.state, 'running', 'still running past its timeout while used');
    assert.ok(busy.endAt.getTime() > firstEnd, 'GET shows the endAt the scheduler moved');

    // Idle since the last request: paused within the timeout + 2 s, not before it.
    const waited = await waitState(sbx.sandboxId, 'paused', TIMEOUT_MS + 4000);
    assert.notEqual(waited, -1, 'paused after going idle');
    const pausedAfter = Date.now() - lastRequest;
    console.log(`paused ${pausedAfter} ms after the last request (timeout ${TIMEOUT_MS})`);
    assert.ok(pausedAfter >= TIMEOUT_MS - 500, `paused ${pausedAfter} ms after the last request`);
    assert.ok(pausedAfter <= TIMEOUT_MS + 2000, `paused ${pausedAfter} ms after the last request`);

    // A routed request resumes it (autoResume); files and processes survived.
    const r = await sbx.commands.run('cat /home/user/state.txt');
    assert.equal(r.stdout, 'kept\n');
    assert.equal((await sbx.getInfo()).state, 'running');
    const procs = await sbx.commands.list();
    assert.ok(procs.some((p) => p.pid === bg.pid), 'the sleep 3600 started before the pause runs');
  } finally {
    await Sandbox.kill(sbx.sandboxId);
  }
});

test('without autoPause the timeout is a hard lifetime, traffic or not', async () => {
  const sbx = await Sandbox.create({ timeoutMs: 3000 });
  const t0 = Date.now();
  let alive = true;
  while (alive && Date.now() - t0 < 7000) {
    try {
      await sbx.commands.run('true', { requestTimeoutMs: 2000 });
      await sleep(300);
    } catch {
      alive = false;
    }
  }
  const endedAfter = Date.now() - t0;
  assert.equal(alive, false, 'killed at its end although it was used');
  assert.ok(endedAfter < 5000, `ended ${endedAfter} ms after create (timeout 3000)`);
  assert.equal(await sbx.isRunning(), false);
});
