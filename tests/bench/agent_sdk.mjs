// The agent's calls through the real npm packages, timed in one sandbox each:
// commands.run('true') (e2b) and runCode('1+1') on a warm context
// (@e2b/code-interpreter). Sandbox create and kill are outside the timing; a few
// warm-up calls come first (the first runCode warms the default python context).
// Prints one JSON line per call kind, like cube-bench --json.
import { createRequire } from 'node:module';

// The SDKs are installed once, under tests/sdk (SDK_DIR); resolve them from there.
const require = createRequire(`${process.env.SDK_DIR}/`);
const { Sandbox } = require('e2b');
const CI = require('@e2b/code-interpreter');

const n = Number(process.argv[2] || 200);
const warmup = Math.max(5, Math.floor(n / 10));

async function series(mode, sandbox, call) {
  const lat = [];
  let errors = 0;
  for (let i = 0; i < warmup + n; i++) {
    const t0 = performance.now();
    try {
      await call(sandbox);
      if (i >= warmup) lat.push(performance.now() - t0);
    } catch (e) {
      if (i >= warmup) errors++;
      console.error(`${mode}: ${e}`);
    }
  }
  lat.sort((a, b) => a - b);
  const p = (q) => (lat.length ? lat[Math.min(lat.length - 1, Math.round((q / 100) * (lat.length - 1)))] : 0);
  const avg = lat.reduce((a, b) => a + b, 0) / (lat.length || 1);
  console.log(JSON.stringify({ system: 'cube+e2b-sdk', mode, via: 'gateway', count: n, ok: lat.length,
    errors, min_ms: lat[0] || 0, avg_ms: avg, p50_ms: p(50), p95_ms: p(95), p99_ms: p(99),
    max_ms: lat[lat.length - 1] || 0 }));
}

const s = await Sandbox.create();
try {
  await series('agent-sdk-commands-run', s, async (sb) => {
    const r = await sb.commands.run('true');
    if (r.exitCode !== 0) throw new Error(`exit code ${r.exitCode}`);
  });
} finally {
  await s.kill();
}

const c = await CI.Sandbox.create();
try {
  await series('agent-sdk-run-code', c, async (sb) => {
    const r = await sb.runCode('1+1');
    if (r.error || r.text !== '2') throw new Error(`runCode: ${JSON.stringify(r.error ?? r.text)}`);
  });
} finally {
  await c.kill();
}
