// The runner pod's side of the registration handshake: the capabilities it asks the autoscaler to register (what the
// agent itself will report once online), and the helper itself on loopback against the autoscaler's real client —
// what another pod can read from it and which grants it takes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentCapabilities, awaitRegistration, readHandshakeSettings, recordedAgentVersion, type HandshakeSettings } from '../../../runner/handshake.js';
import { autoscalerKeyMaker, loadAutoscalerKeys } from '../../../src/clients/autoscaler-keys.js';
import { httpRunnerHandshake } from '../../../src/clients/runner-handshake-http.js';
import { grantStatement, type RegistrationGrant, type RegistrationRequest, type SignedGrant } from '../../../src/core/index.js';
// The agent double stands for the real agent here: written from the agent's sources, not from ours.
import { systemCapabilities } from '../../../emulator/agent/capabilities.js';

const dir = mkdtempSync(join(tmpdir(), 'handshake-'));
const onPath = mkdtempSync(join(tmpdir(), 'handshake-path-'));
for (const tool of ['git', 'curl', 'nodejs', 'javac']) {
  writeFileSync(join(onPath, tool), '#!/bin/sh\n');
  chmodSync(join(onPath, tool), 0o755);
}
writeFileSync(join(onPath, 'not-executable-make'), '');

const env = {
  PATH: `${onPath}:/nonexistent`, HOME: '/home/agent', TOOLBOX: 'yes', SHLVL: '2', TERM: 'xterm', LONG: 'x'.repeat(1024),
  SECRET_NAME: 'kept out', VSO_AGENT_IGNORE: 'SECRET_NAME, AZP_TOKEN', 'agent.disableupdate': 'true',
};

describe('the registration request’s capabilities', () => {
  it('name the same capabilities the running agent reports in its session', () => {
    const requested = agentCapabilities(env, 'linux-3', '/azp/agent', '4.999.0');
    const reported = systemCapabilities(env, 'linux-3', '4.999.0', '/azp/agent');
    assert.deepEqual(Object.keys(requested).sort(), Object.keys(reported).sort());
  });

  it('hold the tools found on PATH, the environment the agent keeps and its Agent.* facts', () => {
    const requested = agentCapabilities(env, 'linux-3', '/azp/agent', '4.999.0');
    assert.equal(requested.git, join(onPath, 'git'));
    assert.equal(requested['node.js'], join(onPath, 'nodejs'));
    assert.equal(requested.JDK, join(onPath, 'javac'));
    assert.equal(requested.make, undefined, 'a file that is not executable is no tool');
    assert.equal(requested.TOOLBOX, 'yes');
    assert.equal(requested['Agent.Version'], '4.999.0');
    assert.equal(requested['Agent.Name'], 'linux-3');
    for (const left of ['SHLVL', 'TERM', 'LONG', 'SECRET_NAME']) assert.equal(requested[left], undefined, `${left} is left out`);
  });

  it('leave Agent.Version out when the image recorded none', () => {
    assert.equal(agentCapabilities(env, 'linux-3', '/azp/agent')['Agent.Version'], undefined);
  });

  it('read the recorded version only when it is one', () => {
    const file = join(dir, 'agent-version');
    writeFileSync(file, '4.272.0\n');
    assert.equal(recordedAgentVersion(file), '4.272.0');
    writeFileSync(file, 'Agent.Listener failed\n');
    assert.equal(recordedAgentVersion(file), undefined);
    assert.equal(recordedAgentVersion(join(dir, 'absent')), undefined);
  });
});

describe('the registration handshake on loopback, helper and autoscaler both real', () => {
  const keys = autoscalerKeyMaker.make();
  const keyDir = mkdtempSync(join(tmpdir(), 'handshake-keys-'));
  writeFileSync(join(keyDir, 'signing-key'), keys.private.signing);
  writeFileSync(join(keyDir, 'encryption-key'), keys.private.encryption);
  const autoscalerKeys = loadAutoscalerKeys(keyDir, keys.public);
  const capabilities = { ...env, SECRET_LOOKING: 'build-cache-key-7f3a' };

  /** The helper waiting for its registration on a free loopback port, and what it logged. */
  async function startHelper() {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as AddressInfo;
        probe.close(() => resolve(free));
      });
    });
    const agentDir = mkdtempSync(join(tmpdir(), 'handshake-agent-'));
    const logged: string[] = [];
    let listening!: () => void;
    const ready = new Promise<void>((resolve) => (listening = resolve));
    const settings: HandshakeSettings = {
      agentDir, agentName: 'linux-3', podUid: 'uid-3', poolName: 'Linux Private', organizationUrl: 'https://dev.azure.com/contoso',
      workFolder: '/azp/work', agentVersion: '4.999.0', autoscalerKeys: keys.public, env: capabilities, port,
      log: (message) => {
        logged.push(message);
        if (/^waiting/.test(message)) listening();
      },
    };
    const registered = awaitRegistration(settings);
    await ready;
    const url = `http://127.0.0.1:${port}/v1/registration`;
    const post = async (body: unknown) => {
      const answer = await fetch(url, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });
      return { status: answer.status, text: await answer.text() };
    };
    return { port, agentDir, logged, registered, url, post, client: httpRunnerHandshake(autoscalerKeys, { port, deadlineMs: 2000 }) };
  }

  const grantFor = (agentName = 'linux-3'): RegistrationGrant => ({
    agentId: 7, agentName, poolId: 3, poolName: 'Linux Private', serverUrl: 'https://dev.azure.com/contoso', clientId: 'client-7',
    authorizationUrl: 'https://vstoken.dev.azure.com/contoso/token', oauthEndpointUrl: 'https://vstoken.dev.azure.com/contoso/token',
  });
  const signed = (grant: RegistrationGrant, request: RegistrationRequest, key: KeyObject = autoscalerKeys.signing): SignedGrant =>
    ({ grant, signature: sign(null, Buffer.from(grantStatement(grant, request)), key).toString('base64url') });

  it('serves nothing another pod can read: no capability, no pool, no pod, no key in clear', async () => {
    const helper = await startHelper();
    try {
      const text = await (await fetch(helper.url)).text();
      for (const clear of ['SECRET_LOOKING', 'build-cache-key-7f3a', 'TOOLBOX', 'Linux Private', 'linux-3', 'uid-3', 'Agent.', '/home/agent']) {
        assert.ok(!text.includes(clear), `${clear} in clear`);
      }
      assert.deepEqual(Object.keys(JSON.parse(text)).sort(), ['data', 'iv', 'key', 'version']);
      // Sealed to the autoscaler: another key pair's holder opens nothing.
      const other = autoscalerKeyMaker.make();
      const otherDir = mkdtempSync(join(tmpdir(), 'handshake-other-'));
      writeFileSync(join(otherDir, 'signing-key'), other.private.signing);
      writeFileSync(join(otherDir, 'encryption-key'), other.private.encryption);
      const stranger = httpRunnerHandshake(loadAutoscalerKeys(otherDir, other.public), { port: helper.port });
      await assert.rejects(stranger.request('127.0.0.1'), /not sealed to this autoscaler's key/);
    } finally {
      const request = (await helper.client.request('127.0.0.1'))!;
      await helper.client.grant('127.0.0.1', grantFor(), request);
      await helper.registered;
    }
  });

  it('refuses every grant but the one signed for this request, keeps waiting, then takes the right one', async () => {
    const helper = await startHelper();
    const request = (await helper.client.request('127.0.0.1'))!;
    assert.equal(request.podUid, 'uid-3');
    assert.equal(request.systemCapabilities.SECRET_LOOKING, 'build-cache-key-7f3a');
    assert.match(request.nonce, /^[A-Za-z0-9_-]{43}$/);
    const forger = generateKeyPairSync('ed25519').privateKey;
    const tampered = signed(grantFor(), request);
    const refused: Array<[string, unknown]> = [
      ['forged: signed by another key', signed(grantFor(), request, forger)],
      ['made for another pod UID', signed(grantFor(), { ...request, podUid: 'uid-4' })],
      ['a replay of a grant made for an earlier nonce', signed(grantFor(), { ...request, nonce: 'A'.repeat(43) })],
      ['made for another agent key', signed(grantFor(), { ...request, publicKey: { ...request.publicKey, modulus: `B${request.publicKey.modulus.slice(1)}` } })],
      ['a field changed after signing', { ...tampered, grant: { ...tampered.grant, oauthEndpointUrl: 'https://evil.example.com/token' } }],
      ['a field added after signing', { ...tampered, grant: { ...tampered.grant, extra: 'x' } }],
      ['a wrong signature', { ...tampered, signature: 'A'.repeat(86) }],
      ['no signature', { grant: grantFor() }],
      ['the unsigned grant of before', grantFor()],
      ['null', null],
      ['signed, but for another agent of the pool', signed(grantFor('linux-4'), request)],
    ];
    for (const [what, body] of refused) {
      const answer = await helper.post(body);
      assert.equal(answer.status, 422, `${what}: ${answer.status} ${answer.text}`);
      assert.ok(!existsSync(join(helper.agentDir, '.agent')) && !existsSync(join(helper.agentDir, '.credentials')), `${what}: nothing written`);
    }
    assert.equal((await helper.post('{not json')).status, 400);
    // Still waiting, with the same request.
    assert.equal((await helper.client.request('127.0.0.1'))!.nonce, request.nonce);
    assert.equal(helper.logged.filter((line) => line.startsWith('refused a registration')).length, refused.length);
    await helper.client.grant('127.0.0.1', grantFor(), request);
    await helper.registered;
    assert.equal(JSON.parse(readFileSync(join(helper.agentDir, '.agent'), 'utf8')).agentId, 7);
    assert.equal(JSON.parse(readFileSync(join(helper.agentDir, '.credentials'), 'utf8')).data.clientId, 'client-7');
  });

  it('takes the notice address only as signed, and leaves it with the agent id for the supervisor', async () => {
    const helper = await startHelper();
    const request = (await helper.client.request('127.0.0.1'))!;
    assert.equal(request.acceptsNoticeUrl, true, 'it says it takes one');
    const withNotice = { ...grantFor(), noticeUrl: 'http://10.0.0.2:9091/job-started' };
    const tampered = signed(withNotice, request);
    const refused: Array<[string, unknown]> = [
      ['a notice address changed after signing', { ...tampered, grant: { ...withNotice, noticeUrl: 'http://10.6.6.6:9091/job-started' } }],
      ['a notice address added after signing', { ...signed(grantFor(), request), grant: withNotice }],
      ['a notice address taken out after signing', { ...tampered, grant: grantFor() }],
      ['signed, but no plain HTTP notice address', signed({ ...grantFor(), noticeUrl: 'file:///etc/passwd' }, request)],
    ];
    for (const [what, body] of refused) {
      const answer = await helper.post(body);
      assert.equal(answer.status, 422, `${what}: ${answer.status} ${answer.text}`);
      assert.ok(!existsSync(join(helper.agentDir, '.job-notice')), `${what}: nothing written`);
    }
    await helper.client.grant('127.0.0.1', withNotice, request);
    await helper.registered;
    assert.deepEqual(JSON.parse(readFileSync(join(helper.agentDir, '.job-notice'), 'utf8')), { url: 'http://10.0.0.2:9091/job-started', agentId: 7 });
  });

  it('takes a grant without a notice address, as an older autoscaler makes it, and leaves no notice', async () => {
    const helper = await startHelper();
    await helper.client.grant('127.0.0.1', grantFor(), (await helper.client.request('127.0.0.1'))!);
    await helper.registered;
    assert.ok(existsSync(join(helper.agentDir, '.agent')));
    assert.ok(!existsSync(join(helper.agentDir, '.job-notice')));
  });

  it('a new helper run makes a new nonce: the grant of the last run is refused', async () => {
    const first = await startHelper();
    const earlier = (await first.client.request('127.0.0.1'))!;
    const grant = signed(grantFor(), earlier);
    assert.equal((await first.post(grant)).status, 204);
    await first.registered;
    const second = await startHelper();
    const answer = await second.post(grant);
    assert.equal(answer.status, 422);
    assert.match(answer.text, /forged, replayed, or made for another pod/);
    await second.client.grant('127.0.0.1', grantFor(), (await second.client.request('127.0.0.1'))!);
    await second.registered;
  });

  it('will not run without the autoscaler\'s keys', () => {
    const base = { AZP_AGENT_NAME: 'linux-3', RUNNER_POD_UID: 'u', AZP_POOL: 'P', AZP_URL: 'https://dev.azure.com/c' };
    assert.throws(() => readHandshakeSettings(base, '/azp/agent'), /AZP_AUTOSCALER_SIGNING_KEY is not set/);
    assert.throws(() => readHandshakeSettings({ ...base, AZP_AUTOSCALER_SIGNING_KEY: 'x', AZP_AUTOSCALER_ENCRYPTION_KEY: keys.public.encryption }, '/azp/agent'), /AZP_AUTOSCALER_SIGNING_KEY must be a 32-byte key/);
    const settings = readHandshakeSettings({ ...base, AZP_AUTOSCALER_SIGNING_KEY: keys.public.signing, AZP_AUTOSCALER_ENCRYPTION_KEY: keys.public.encryption }, '/azp/agent');
    assert.deepEqual(settings.autoscalerKeys, keys.public);
  });
});
