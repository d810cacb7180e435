// Pause and resume with the unmodified `e2b` package: a paused sandbox keeps its
// processes, memory and files; connect resumes it with the same id and token; the
// router answers 502 while it is paused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox, SandboxNotFoundError } from 'e2b';

test('pause keeps processes and files; connect resumes with the same id and token', async () => {
  const sbx = await Sandbox.create({ metadata: { suite: 'pause' } });
  try {
    await sbx.commands.run('echo kept > /home/user/state.txt');
    const bg = await sbx.commands.run('sleep 3600', { background: true });

    assert.equal(await sbx.pause(), true);
    assert.equal((await sbx.getInfo()).state, 'paused');
    assert.equal(await sbx.isRunning(), false, 'the router answers 502 for a paused sandbox');
    assert.equal(await Sandbox.pause(sbx.sandboxId), false, 'pausing twice returns false (409)');

    const listed = await Sandbox.list({ query: { state: ['paused'], metadata: { suite: 'pause' } } }).nextItems();
    assert.ok(listed.some((s) => s.sandboxId === sbx.sandboxId), 'paused sandboxes are listed');

    const again = await Sandbox.connect(sbx.sandboxId);
    assert.equal(again.sandboxId, sbx.sandboxId);
    assert.equal((await again.getInfo()).state, 'running');
    const r = await sbx.commands.run('cat /home/user/state.txt'); // the old object still works
    assert.equal(r.stdout, 'kept\n');
    const procs = await again.commands.list();
    assert.ok(procs.some((p) => p.pid === bg.pid), 'a process started before the pause survives');
  } finally {
    await Sandbox.kill(sbx.sandboxId);
  }
});

test('a paused sandbox does not time out, and can be killed', async () => {
  const sbx = await Sandbox.create({ timeoutMs: 2000 });
  assert.equal(await sbx.pause(), true);
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal((await Sandbox.getInfo(sbx.sandboxId)).state, 'paused');
  assert.equal(await Sandbox.kill(sbx.sandboxId), true);
  await assert.rejects(Sandbox.connect(sbx.sandboxId), SandboxNotFoundError);
});

test('onTimeout: pause pauses at the timeout instead of killing; connect resumes', async () => {
  const sbx = await Sandbox.create({ timeoutMs: 2000, lifecycle: { onTimeout: 'pause' } });
  try {
    await sbx.commands.run('echo before > /tmp/mark');
    assert.equal((await sbx.getInfo()).state, 'running');
    await new Promise((r) => setTimeout(r, 3500));
    assert.equal((await Sandbox.getInfo(sbx.sandboxId)).state, 'paused');
    assert.equal(await sbx.isRunning(), false);
    const again = await Sandbox.connect(sbx.sandboxId, { timeoutMs: 60_000 });
    assert.equal((await again.commands.run('cat /tmp/mark')).stdout, 'before\n');
  } finally {
    await Sandbox.kill(sbx.sandboxId);
  }
});

test('autoResume: traffic to a paused sandbox resumes it, once, for a burst of requests', async () => {
  const sbx = await Sandbox.create({ lifecycle: { onTimeout: 'pause', autoResume: true } });
  try {
    await sbx.commands.run('echo 1 > /tmp/n');
    assert.equal(await sbx.pause(), true);
    assert.equal((await sbx.getInfo()).state, 'paused');
    // The request waits while the sandbox resumes, then goes through.
    const results = await Promise.all([1, 2, 3, 4].map(() => sbx.commands.run('cat /tmp/n')));
    for (const r of results) assert.equal(r.stdout, '1\n');
    assert.equal((await sbx.getInfo()).state, 'running');
  } finally {
    await Sandbox.kill(sbx.sandboxId);
  }
});

test('without autoResume a paused sandbox answers 502 (isRunning false) and stays paused', async () => {
  const sbx = await Sandbox.create();
  try {
    await sbx.pause();
    assert.equal(await sbx.isRunning(), false);
    assert.equal((await sbx.getInfo()).state, 'paused');
  } finally {
    await Sandbox.kill(sbx.sandboxId);
  }
});
