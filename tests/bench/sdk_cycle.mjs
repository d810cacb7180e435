// The create -> run `echo ready` -> kill cycle through the real `e2b` SDK, sequential,
// as public sandbox benchmarks measure it. Prints one JSON line with the timings.
import { createRequire } from 'node:module';

// The SDK is installed once, under tests/sdk (SDK_DIR); resolve it from there.
const require = createRequire(`${process.env.SDK_DIR}/`);
const { Sandbox } = require('e2b');

const n = Number(process.argv[2] || 30);
const lat = [];
let errors = 0;
for (let i = 0; i < n; i++) {
  const t0 = performance.now();
  try {
    const s = await Sandbox.create();
    const r = await s.commands.run('echo ready');
    if (r.stdout !== 'ready\n') throw new Error(`unexpected output ${r.stdout}`);
    await s.kill();
    lat.push(performance.now() - t0);
  } catch (e) {
    errors++;
    console.error(String(e));
  }
}
lat.sort((a, b) => a - b);
// SDK_SAMPLES=FILE: the sorted latencies (ms), one a line, for the chart.
if (process.env.SDK_SAMPLES) {
  const { writeFileSync } = await import('node:fs');
  writeFileSync(process.env.SDK_SAMPLES, lat.map((v) => v.toFixed(3)).join('\n') + '\n');
}
const p = (q) => (lat.length ? lat[Math.min(lat.length - 1, Math.round((q / 100) * (lat.length - 1)))] : 0);
const avg = lat.reduce((a, b) => a + b, 0) / (lat.length || 1);
console.log(JSON.stringify({ mode: 'sdk-create-exec-delete', count: n, ok: lat.length, errors,
  min_ms: lat[0] || 0, avg_ms: avg, p50_ms: p(50), p95_ms: p(95), p99_ms: p(99), max_ms: lat[lat.length - 1] || 0 }));
