// Sandbox metrics with the unmodified `e2b` package: sampled every 5 s by
// cube-scheduler from the worker (cgroup + writable layer), filtered by time range.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox, SandboxNotFoundError } from 'e2b';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('getMetrics returns samples within the requested range', async () => {
  const sbx = await Sandbox.create();
  try {
    await sbx.commands.run('head -c 5000000 /dev/urandom > /home/user/blob; python3 -c "sum(range(3000000))"');
    let metrics = [];
    for (let i = 0; i < 30 && metrics.length === 0; i++) {
      await sleep(1000);
      metrics = await sbx.getMetrics();
    }
    assert.ok(metrics.length > 0, 'a sample arrives within 30 s');
    const m = metrics[metrics.length - 1];
    assert.equal(m.cpuCount, 2);
    assert.ok(m.memUsed > 0 && m.memTotal === 512 * 1024 * 1024, `memory ${m.memUsed}/${m.memTotal}`);
    assert.ok(m.diskUsed >= 5_000_000, `the 5 MB file counts as disk use (${m.diskUsed})`);
    assert.ok(m.diskTotal > m.diskUsed);
    assert.ok(m.timestamp instanceof Date);

    const start = new Date(Date.now() - 60_000);
    const end = new Date();
    for (const p of await sbx.getMetrics({ start, end })) {
      assert.ok(p.timestamp.getTime() >= start.getTime() - 10_000 && p.timestamp.getTime() <= end.getTime() + 10_000);
    }
    const before = await sbx.getMetrics({ start: new Date(Date.now() - 3_600_000), end: new Date(Date.now() - 3_000_000) });
    assert.deepEqual(before, []);
  } finally {
    await sbx.kill();
  }
  await assert.rejects(Sandbox.getMetrics(sbx.sandboxId), SandboxNotFoundError);
});
