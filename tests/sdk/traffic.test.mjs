// Traffic access token with the unmodified SDKs: a sandbox created with
// network.allowPublicTraffic=false gets a trafficAccessToken; its ports answer 403
// without it and serve with it; envd traffic (which carries no token) and the code
// interpreter SDK (which sends it) keep working.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox } from 'e2b';
import { Sandbox as CiSandbox } from '@e2b/code-interpreter';

const routed = (id, port, headers = {}) =>
  fetch(`${process.env.E2B_SANDBOX_URL}/`, {
    headers: { 'E2b-Sandbox-Id': id, 'E2b-Sandbox-Port': String(port), ...headers },
  });

test('a private-traffic sandbox: 403 without the token, served with it', async () => {
  const sbx = await Sandbox.create({ network: { allowPublicTraffic: false } });
  try {
    assert.match(sbx.trafficAccessToken ?? '', /^[0-9a-f]{64}$/);
    const r = await sbx.commands.run('echo envd-ok');
    assert.equal(r.stdout.trim(), 'envd-ok', 'envd traffic needs no traffic token');
    await sbx.commands.run('cd /tmp && echo served > index.html && python3 -m http.server 8000', {
      background: true,
    });
    let ok;
    for (let i = 0; i < 50; i++) {
      ok = await routed(sbx.sandboxId, 8000, { 'e2b-traffic-access-token': sbx.trafficAccessToken });
      if (ok.status === 200) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(ok.status, 200);
    assert.equal((await ok.text()).trim(), 'served');

    const denied = await routed(sbx.sandboxId, 8000);
    assert.equal(denied.status, 403);
    assert.deepEqual(await denied.json(), {
      sandboxId: sbx.sandboxId,
      message: "Sandbox is secured with traffic access token. Token header 'e2b-traffic-access-token' is missing",
      code: 403,
    });
    const wrong = await routed(sbx.sandboxId, 8000, { 'e2b-traffic-access-token': '0'.repeat(64) });
    assert.equal(wrong.status, 403);

    const again = await Sandbox.connect(sbx.sandboxId);
    assert.equal(again.trafficAccessToken, sbx.trafficAccessToken, 'connect returns the same token');
  } finally {
    await sbx.kill();
  }
});

test('a public sandbox has no traffic token and its ports need none', async () => {
  const sbx = await Sandbox.create();
  try {
    assert.equal(sbx.trafficAccessToken, undefined);
    const r = await routed(sbx.sandboxId, 8000);
    assert.equal(r.status, 502, 'nothing listens: port-closed 502, not 403');
  } finally {
    await sbx.kill();
  }
});

test('the code interpreter SDK sends the token to its port (49999)', async () => {
  const sbx = await CiSandbox.create({ network: { allowPublicTraffic: false } });
  try {
    const exec = await sbx.runCode('6 * 7');
    assert.equal(exec.text, '42');
    const denied = await routed(sbx.sandboxId, 49999);
    assert.equal(denied.status, 403, 'the CI port without the token');
  } finally {
    await sbx.kill();
  }
});
