// Cube code-interpreter kernel driver for JavaScript (Node), started by
// cube-ci (one per context). Protocol (see envd/ci_kernel.h): requests on
// fd 3, events on fd 4, one JSON object per line; console output goes to our
// stdout/stderr (fds 1 and 2), which cube-ci passes on.
'use strict';
const fs = require('fs');
const path = require('path');
const util = require('util');
const vm = require('vm');
const { createRequire } = require('module');

const REQ_FD = 3;
const EV_FD = 4;

function emit(obj) {
  const buf = Buffer.from(JSON.stringify(obj) + '\n');
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(EV_FD, buf, off);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
    }
  }
}

function text(value) {
  return typeof value === 'string' ? value : util.inspect(value, { depth: 4 });
}

function bundle(value) {
  const data = {};
  if (value && typeof value === 'object') {
    for (const [meth, mime] of [
      ['_repr_html_', 'text/html'],
      ['_repr_markdown_', 'text/markdown'],
      ['_repr_svg_', 'image/svg+xml'],
      ['_repr_png_', 'image/png'],
      ['_repr_latex_', 'text/latex'],
      ['_repr_json_', 'application/json'],
    ]) {
      if (typeof value[meth] === 'function') {
        try {
          const v = value[meth]();
          if (v !== undefined && v !== null) data[mime] = v;
        } catch (e) {
          /* ignore a failing representation */
        }
      }
    }
  }
  data['text/plain'] = util.inspect(value, { depth: 4 });
  return data;
}

function display(...values) {
  for (const v of values) emit({ type: 'result', main: false, data: bundle(v) });
}

const cwd = process.cwd();
const sandbox = {
  console,
  process,
  Buffer,
  URL,
  URLSearchParams,
  TextEncoder,
  TextDecoder,
  setTimeout,
  clearTimeout,
  setInterval,
  clearInterval,
  setImmediate,
  clearImmediate,
  queueMicrotask,
  structuredClone: globalThis.structuredClone,
  fetch: globalThis.fetch,
  require: createRequire(path.join(cwd, 'index.js')),
  module: { exports: {} },
  __dirname: cwd,
  __filename: path.join(cwd, 'index.js'),
  display,
};
sandbox.globalThis = sandbox;
const context = vm.createContext(sandbox);

let cells = 0;
let pendingReject = null;

// Outside of synchronous code (breakOnSigint covers that), SIGINT rejects
// what we are awaiting; when idle it is ignored.
process.on('SIGINT', () => {
  if (pendingReject) {
    const r = pendingReject;
    pendingReject = null;
    const e = new Error('Script execution was interrupted');
    e.name = 'KeyboardInterrupt';
    r(e);
  }
});

function interruptible(promise) {
  return new Promise((resolve, reject) => {
    pendingReject = reject;
    promise.then(resolve, reject);
  }).finally(() => {
    pendingReject = null;
  });
}

function reportError(e) {
  if (e instanceof Error || (e && typeof e === 'object' && 'message' in e)) {
    emit({
      type: 'error',
      name: String(e.name || 'Error'),
      value: String(e.message),
      traceback: String(e.stack || `${e.name}: ${e.message}`),
    });
  } else {
    emit({ type: 'error', name: 'Error', value: text(e), traceback: '' });
  }
}

function compile(code, filename) {
  try {
    return new vm.Script(code, { filename });
  } catch (e) {
    // Top-level await: run the code as an async function body, keeping the
    // value of a trailing expression.
    if (!(e instanceof SyntaxError) || !/await/.test(code)) throw e;
    const lines = code.replace(/\s+$/, '').split('\n');
    const last = lines.pop();
    const body = [...lines, /^\s*(const|let|var|if|for|while|return|throw|class|function)\b/.test(last) ? last : `return (${last.replace(/;\s*$/, '')})`].join('\n');
    try {
      return new vm.Script(`(async () => {\n${body}\n})()`, { filename });
    } catch (e2) {
      return new vm.Script(`(async () => {\n${code}\n})()`, { filename });
    }
  }
}

async function run(req) {
  const saved = {};
  if (req.global_env && typeof req.global_env === 'object') {
    for (const [k, v] of Object.entries(req.global_env)) process.env[k] = String(v);
  }
  if (req.env_vars && typeof req.env_vars === 'object') {
    for (const [k, v] of Object.entries(req.env_vars)) {
      saved[k] = Object.prototype.hasOwnProperty.call(process.env, k) ? process.env[k] : undefined;
      process.env[k] = String(v);
    }
  }
  try {
    cells += 1;
    const script = compile(String(req.code || ''), `<cell-${cells}>`);
    let value = script.runInContext(context, { breakOnSigint: true, displayErrors: false });
    if (value && typeof value.then === 'function') value = await interruptible(value);
    if (value !== undefined) emit({ type: 'result', main: true, data: bundle(value) });
  } catch (e) {
    reportError(e);
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

async function main() {
  const input = fs.createReadStream(null, { fd: REQ_FD });
  let pending = '';
  let chain = Promise.resolve();
  input.on('data', (chunk) => {
    pending += chunk.toString('utf8');
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      chain = chain.then(async () => {
        let req = null;
        try {
          req = JSON.parse(line);
        } catch (e) {
          req = null;
        }
        if (req && typeof req === 'object') await run(req);
        emit({ type: 'done' });
      });
    }
  });
  input.on('end', () => process.exit(0));
}

process.on('uncaughtException', (e) => {
  // An error thrown later by a callback of earlier code: show it on stderr.
  process.stderr.write(`Uncaught ${e && e.stack ? e.stack : e}\n`);
});
process.on('unhandledRejection', (e) => {
  process.stderr.write(`Unhandled rejection: ${e && e.stack ? e.stack : e}\n`);
});

main();
