// Process service through the router with the unmodified `e2b` package: background
// commands, list, kill, stdin, reconnect, timeouts, PTY.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox, CommandExitError, TimeoutError } from 'e2b';

let sbx;
before(async () => {
  sbx = await Sandbox.create();
});
after(async () => {
  await sbx?.kill();
});

test('background command: list shows it with its config, kill ends it', async () => {
  const h = await sbx.commands.run('sleep 30', { background: true });
  const list = await sbx.commands.list();
  const p = list.find((x) => x.pid === h.pid);
  assert.ok(p, 'started process is listed');
  assert.equal(p.cmd, '/bin/bash');
  assert.ok(p.args.join(' ').includes('sleep 30'));
  assert.equal(await sbx.commands.kill(h.pid), true);
  await assert.rejects(h.wait(), CommandExitError);
  assert.equal(await sbx.commands.kill(h.pid), false, 'killing a gone process returns false');
});

test('stdin: sendStdin then closeStdin', async () => {
  const h = await sbx.commands.run('cat', { background: true, stdin: true });
  await sbx.commands.sendStdin(h.pid, 'hello from stdin\n');
  await sbx.commands.closeStdin(h.pid);
  const r = await h.wait();
  assert.equal(r.stdout, 'hello from stdin\n');
});

test('a process outlives its stream and can be reconnected', async () => {
  const h = await sbx.commands.run('sleep 1; echo done', { background: true });
  await h.disconnect();
  const again = await sbx.commands.connect(h.pid);
  const r = await again.wait();
  assert.equal(r.stdout, 'done\n');
});

test('a command timeout ends the command', async () => {
  await assert.rejects(sbx.commands.run('sleep 10', { timeoutMs: 1000 }), TimeoutError);
});

test('run as root via user option', async () => {
  const r = await sbx.commands.run('whoami; echo $HOME', { user: 'root' });
  assert.equal(r.stdout, 'root\n/root\n');
});

test('pty: create, send input, output arrives', async () => {
  let out = '';
  const pty = await sbx.pty.create({ cols: 80, rows: 24, onData: (d) => { out += new TextDecoder().decode(d); } });
  await sbx.pty.sendInput(pty.pid, new TextEncoder().encode('echo pty-$((40+2))\nexit\n'));
  await pty.wait();
  assert.match(out, /pty-42/);
});

test('killing the sandbox cuts a running command at the transport level', async () => {
  const victim = await Sandbox.create();
  setTimeout(() => victim.kill(), 500);
  await assert.rejects(victim.commands.run('sleep 20'), (e) => {
    assert.ok(e instanceof TimeoutError, `got ${e?.constructor?.name}: ${e?.message}`);
    assert.match(e.message, /killed or reached its end of life/);
    return true;
  });
});
