// The code interpreter with the unmodified `@e2b/code-interpreter` package: default
// template, stateful Python, streamed logs, errors, contexts, interrupt on timeout.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox } from '@e2b/code-interpreter';

let sbx;
before(async () => {
  sbx = await Sandbox.create(); // template "code-interpreter-v1"
});
after(async () => {
  await sbx?.kill();
});

test('state persists across executions and the last expression is the result', async () => {
  await sbx.runCode('x = 41');
  const e = await sbx.runCode('x + 1');
  assert.equal(e.text, '42');
  assert.equal(e.error, undefined);
});

test('stdout is streamed to callbacks and collected in logs', async () => {
  const seen = [];
  const e = await sbx.runCode('print("hello"); import sys; print("oops", file=sys.stderr)', {
    onStdout: (m) => seen.push(m.line),
  });
  assert.deepEqual(e.logs.stdout, ['hello\n']);
  assert.deepEqual(e.logs.stderr, ['oops\n']);
  assert.ok(seen.some((l) => l.includes('hello')));
});

test('errors carry name, value and traceback', async () => {
  const e = await sbx.runCode('undefined_name_xyz');
  assert.equal(e.error.name, 'NameError');
  assert.match(e.error.value, /undefined_name_xyz/);
  assert.ok(e.error.traceback.length > 0);
});

test('code runs as user in the sandbox, with the sandbox env', async () => {
  const e = await sbx.runCode('import os, getpass; (getpass.getuser(), os.environ.get("E2B_SANDBOX"))');
  assert.equal(e.text, "('user', 'true')");
});

test('contexts: create, list, run in, restart, remove', async () => {
  const ctx = await sbx.createCodeContext({ cwd: '/tmp' });
  const list = await sbx.listCodeContexts();
  assert.equal(list[list.length - 1].id, ctx.id);
  const e = await sbx.runCode('import os; os.getcwd()', { context: ctx });
  assert.equal(e.text, '/tmp');
  await sbx.runCode('y = 5', { context: ctx });
  await sbx.restartCodeContext(ctx);
  const after = await sbx.runCode('y', { context: ctx });
  assert.equal(after.error.name, 'NameError');
  await sbx.removeCodeContext(ctx);
  assert.ok(!(await sbx.listCodeContexts()).some((c) => c.id === ctx.id));
});

test('a timed-out execution is interrupted and the next one runs', async () => {
  await assert.rejects(sbx.runCode('import time; time.sleep(300)', { timeoutMs: 2000 }));
  const t0 = Date.now();
  const e = await sbx.runCode('1 + 1');
  assert.equal(e.text, '2');
  assert.ok(Date.now() - t0 < 10_000);
});

// The code-interpreter-v1 template ships numpy, matplotlib, pandas and node.
test('numpy works', async () => {
  const e = await sbx.runCode('import numpy as np; int(np.arange(10).sum())');
  assert.equal(e.error, undefined);
  assert.equal(e.text, '45');
});

test('a matplotlib plot becomes a png result', async () => {
  const e = await sbx.runCode(
    'import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.title("squares")\nplt.show()',
  );
  assert.equal(e.error, undefined);
  const png = e.results.find((r) => r.png);
  assert.ok(png, `no png result in ${JSON.stringify(e.results.map((r) => r.formats()))}`);
  const bytes = Buffer.from(png.png, 'base64');
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.ok(bytes.length > 1000);
});

test('display() of a pandas DataFrame gives html and text results', async () => {
  const e = await sbx.runCode(
    'import pandas as pd\ndf = pd.DataFrame({"a": [1, 2], "b": [3, 4]})\ndisplay(df)\nNone',
  );
  assert.equal(e.error, undefined);
  const r = e.results.find((x) => x.html);
  assert.ok(r, `no html result in ${JSON.stringify(e.results.map((x) => x.formats()))}`);
  assert.match(r.html, /<table/);
  assert.match(r.text, /a\s+b/);
  assert.equal(r.isMainResult, false);
});

test('javascript runs on the template node', async () => {
  const e = await sbx.runCode('const v = [1, 2, 3].map((x) => x * 2); v.join(",")', {
    language: 'javascript',
  });
  assert.equal(e.error, undefined);
  assert.match(e.text, /2,4,6/);
});
