// End-to-end with the unmodified `e2b` package: create -> commands.run -> kill, and the
// error paths the SDK maps from our responses. Needs `make run` and .cube/env sourced
// (tests/run-all.sh does both).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox, CommandExitError, SandboxNotFoundError, AuthenticationError } from 'e2b';

const meta = { sandboxTestId: `test-${Math.random().toString(36).slice(2, 10)}` };

test('create, run a command as user, kill', async () => {
  const sbx = await Sandbox.create({ metadata: meta });
  try {
    assert.match(sbx.sandboxId, /^i[a-z0-9]{20}$/);
    const r = await sbx.commands.run('echo hi; whoami');
    assert.equal(r.stdout, 'hi\nuser\n');
    assert.equal(r.exitCode, 0);
    assert.equal(await sbx.isRunning(), true);
  } finally {
    assert.equal(await sbx.kill(), true);
  }
  assert.equal(await sbx.isRunning(), false);
});

test('stdout and stderr are separate, env and cwd apply', async () => {
  const sbx = await Sandbox.create();
  try {
    const r = await sbx.commands.run('echo out; echo err >&2; echo $FOO; pwd', {
      envs: { FOO: 'bar' },
      cwd: '/tmp',
    });
    assert.equal(r.stdout, 'out\nbar\n/tmp\n');
    assert.equal(r.stderr, 'err\n');
  } finally {
    await sbx.kill();
  }
});

test('non-zero exit raises CommandExitError with the exit code', async () => {
  const sbx = await Sandbox.create();
  try {
    await assert.rejects(sbx.commands.run('echo partial; exit 3'), (e) => {
      assert.ok(e instanceof CommandExitError, `got ${e?.constructor?.name}: ${e?.message}`);
      assert.equal(e.exitCode, 3);
      assert.equal(e.stdout, 'partial\n');
      return true;
    });
  } finally {
    await sbx.kill();
  }
});

test('streamed output arrives while the command runs', async () => {
  const sbx = await Sandbox.create();
  try {
    const seen = [];
    const t0 = Date.now();
    await sbx.commands.run('echo one; sleep 1; echo two', {
      onStdout: (d) => seen.push([d, Date.now() - t0]),
    });
    const text = seen.map((s) => s[0]).join('');
    assert.equal(text, 'one\ntwo\n');
    const first = seen.find((s) => s[0].includes('one'));
    assert.ok(first[1] < 900, `first chunk came after ${first[1]} ms: output was not streamed`);
  } finally {
    await sbx.kill();
  }
});

test('sudo works for user inside the sandbox, and root inside is not host root', async () => {
  const sbx = await Sandbox.create();
  try {
    const r = await sbx.commands.run('sudo -n id -u; id -un; hostname');
    assert.equal(r.stdout, `0\nuser\n${sbx.sandboxId}\n`);
  } finally {
    await sbx.kill();
  }
});

test('getInfo returns the sandbox; after kill it is not found; second kill is false', async () => {
  const sbx = await Sandbox.create({ metadata: meta });
  const info = await sbx.getInfo();
  assert.equal(info.sandboxId, sbx.sandboxId);
  assert.equal(info.state, 'running');
  assert.deepEqual(info.metadata, meta);
  assert.equal(info.name, 'base');
  assert.ok(info.endAt > info.startedAt);
  assert.equal(await Sandbox.kill(sbx.sandboxId), true);
  assert.equal(await Sandbox.kill(sbx.sandboxId), false);
  await assert.rejects(Sandbox.getInfo(sbx.sandboxId), SandboxNotFoundError);
});

test('a wrong API key is refused with AuthenticationError', async () => {
  await assert.rejects(
    Sandbox.create({ apiKey: 'e2b_0000000000000000000000000000000000000000' }),
    AuthenticationError,
  );
});

test('an unknown template is refused and creates nothing', async () => {
  await assert.rejects(Sandbox.create('no-such-template-x'), (e) => {
    assert.match(String(e.message), /no-such-template-x/);
    return true;
  });
});
