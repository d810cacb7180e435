// Sandbox.list with the unmodified `e2b` package: metadata, state, template and
// startedAfter filters, order, and pagination with limit / X-Next-Token.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox } from 'e2b';

const tag = `list-${Math.random().toString(36).slice(2, 10)}`;
let sbxs = [];
let t0;
before(async () => {
  t0 = new Date(Date.now() - 1000);
  for (let i = 0; i < 3; i++) sbxs.push(await Sandbox.create({ metadata: { sandboxTestId: tag, n: String(i) } }));
});
after(async () => {
  await Promise.all(sbxs.map((s) => s.kill().catch(() => {})));
});

const all = async (query, limit) => {
  const p = Sandbox.list({ query, limit });
  const out = [];
  while (p.hasNext) out.push(...(await p.nextItems()));
  return out;
};

test('metadata filter returns exactly our sandboxes, newest first', async () => {
  const items = await all({ metadata: { sandboxTestId: tag } });
  assert.deepEqual(items.map((s) => s.sandboxId), sbxs.map((s) => s.sandboxId).reverse());
  assert.equal(items[0].metadata.sandboxTestId, tag);
  assert.equal(items[0].state, 'running');
  assert.equal(items[0].name, 'base');
});

test('pagination with limit 1 walks every item once', async () => {
  const p = Sandbox.list({ query: { metadata: { sandboxTestId: tag } }, limit: 1 });
  const seen = [];
  while (p.hasNext) {
    const page = await p.nextItems();
    assert.ok(page.length <= 1);
    seen.push(...page.map((s) => s.sandboxId));
  }
  assert.deepEqual(seen.sort(), sbxs.map((s) => s.sandboxId).sort());
});

test('state, template and startedAfter filters', async () => {
  await sbxs[0].pause();
  const paused = await all({ metadata: { sandboxTestId: tag }, state: ['paused'] });
  assert.deepEqual(paused.map((s) => s.sandboxId), [sbxs[0].sandboxId]);
  const running = await all({ metadata: { sandboxTestId: tag }, state: ['running'] });
  assert.equal(running.length, 2);
  const none = await all({ metadata: { sandboxTestId: tag }, template: 'no-such-template' });
  assert.deepEqual(none, []);
  const later = await all({ metadata: { sandboxTestId: tag }, startedAfter: new Date(Date.now() + 60_000) });
  assert.deepEqual(later, []);
  const since = await all({ metadata: { sandboxTestId: tag }, startedAfter: t0 });
  assert.equal(since.length, 3);
});

test('killed sandboxes are not listed', async () => {
  await sbxs[2].kill();
  const items = await all({ metadata: { sandboxTestId: tag } });
  assert.ok(!items.some((s) => s.sandboxId === sbxs[2].sandboxId));
});
