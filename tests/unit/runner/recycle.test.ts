// The recycle sidecar: its settings, its wait-delete-retry loop, and its DELETE over TLS against a local API stand-in.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRunner } from '../../../scripts/build.mjs';
import { awaitStartAllowed, deletePodOverHttps, handOffPresent, leaveHandOff, nextDelay, readRecycleSettings, recycleFiles, recycleWhenDone, type Answer, type RecycleSettings } from '../../../runner/recycle.js';
import { SettingError } from '../../../runner/settings.js';

const dir = mkdtempSync(join(tmpdir(), 'recycle-'));
const recycleDir = join(dir, 'recycle');
const credentials = join(dir, 'credentials');
mkdirSync(recycleDir);
mkdirSync(credentials);
const env = {
  AZP_RECYCLE_DIR: recycleDir, AZP_RECYCLE_CREDENTIAL_DIR: credentials, RUNNER_POD_NAME: 'linux-2', RUNNER_POD_UID: 'uid-7',
  RUNNER_NAMESPACE: 'runners', KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '6443',
};

// A certificate for 127.0.0.1, which serves as the cluster's CA too, and a second one the sidecar must not trust.
const certificate = (name: string) => {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`)], { stdio: 'ignore' });
  return { key: readFileSync(join(dir, `${name}.key`)), cert: readFileSync(join(dir, `${name}.crt`)) };
};
const served = certificate('server');
const stranger = certificate('stranger');
writeFileSync(join(credentials, 'token'), 'token-1\n');
writeFileSync(join(credentials, 'ca.crt'), served.cert);

const requests: Array<{ method?: string; url?: string; authorization?: string; body: string }> = [];
let answers: number[] = [];
let server: Server;
let port: number;
before(async () => {
  server = createServer(served, (req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      requests.push({ method: req.method, url: req.url, authorization: req.headers.authorization, body });
      res.writeHead(answers.shift() ?? 200, { 'content-type': 'application/json' }).end('{"kind":"Status","message":"from the stand-in"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
after(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

describe('the recycle sidecar', () => {
  it('reads its settings, or names the one that is wrong', () => {
    const settings = readRecycleSettings(env);
    assert.equal(settings.podUrl, 'https://10.0.0.1:6443/api/v1/namespaces/runners/pods/linux-2');
    assert.equal(readRecycleSettings({ ...env, KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '' }).podUrl, 'https://[fd00::1]:443/api/v1/namespaces/runners/pods/linux-2');
    assert.throws(() => readRecycleSettings({ ...env, AZP_RECYCLE_DIR: join(dir, 'nowhere') }), /AZP_RECYCLE_DIR='.*nowhere' is not a directory/);
    assert.throws(() => readRecycleSettings({ ...env, AZP_RECYCLE_CREDENTIAL_DIR: recycleDir }), /holds no readable token and ca\.crt/);
    assert.throws(() => readRecycleSettings({ ...env, RUNNER_POD_UID: '' }), /needs RUNNER_POD_NAME, RUNNER_POD_UID and RUNNER_NAMESPACE/);
    assert.throws(() => readRecycleSettings({ ...env, KUBERNETES_SERVICE_HOST: undefined }), /KUBERNETES_SERVICE_HOST is not set/);
  });

  it('waits for job-done, then deletes until the API server accepts or says the pod is gone, backing off', async () => {
    const settings = readRecycleSettings(env);
    for (const [answers, outcome] of [[[500, 0, 403, 202], 'pod deletion accepted'], [[409], 'the pod is already gone or replaced (HTTP 409)'], [[404], 'the pod is already gone or replaced (HTTP 404)']] as const) {
      const left = [...answers];
      const sleeps: number[] = [];
      const logs: string[] = [];
      const errors: string[] = [];
      let looks = 0;
      let request = true;
      await recycleWhenDone(settings, {
        jobDone: () => ++looks > 3,
        startRequested: () => request,
        allowStart: () => void (request = false),
        deletePod: async (): Promise<Answer> => {
          const status = left.shift();
          if (status === undefined) throw new Error('it deleted again after a final answer');
          return { status, body: 'x'.repeat(500) };
        },
        sleep: async (ms) => void sleeps.push(ms),
        log: (m) => logs.push(m),
        error: (m) => errors.push(m),
      });
      assert.equal(left.length, 0, 'it stopped at the first final answer');
      assert.deepEqual(sleeps, [500, 500, 500, ...[2000, 4000, 8000].slice(0, answers.length - 1)]);
      assert.deepEqual(logs, ['the agent starts: from now on this pod ends with its job, however the agent exits',
        'the agent\'s job is done: deleting pod linux-2 so that the next job gets a fresh one', outcome]);
      assert.deepEqual(errors.map((e) => e.slice(0, 44)), answers.slice(0, -1).map((s) => `deleting pod linux-2 failed (HTTP ${String(s).padStart(3, '0')}): xxxxx`.slice(0, 44)));
      assert.ok(errors.every((e) => e.length < 460), 'a long answer is cut');
    }
    assert.deepEqual([2, 4, 8, 16, 32, 60].map(nextDelay), [4, 8, 16, 32, 60, 60], '2 s, doubling, then a minute');
  });

  it('deletes its pod, not letting the agent start again, when a job ended its agent and the container restarts in place', async () => {
    const settings = readRecycleSettings(env);
    // The agent container's requests, one per look: its first start, then (after a job killed it) its second.
    const requests = [false, true, false, false, true];
    const allowed: number[] = [];
    const deleted: number[] = [];
    let look = -1;
    const logs: string[] = [];
    await recycleWhenDone(settings, {
      jobDone: () => (look++, false),
      startRequested: () => requests[look] ?? assert.fail('it went on looking after the second start'),
      allowStart: () => void allowed.push(look),
      deletePod: async () => (deleted.push(look), { status: 200, body: '' }),
      sleep: async () => {},
      log: (m) => logs.push(m),
      error: (m) => assert.fail(m),
    });
    assert.deepEqual(allowed, [1], 'the first start only');
    assert.deepEqual(deleted, [4]);
    assert.match(logs[1], /^the agent container started again after its agent had run: deleting pod linux-2/);
  });

  it('deletes its pod over TLS, by UID, with the token as it is at each attempt, trusting only the cluster\'s CA', async () => {
    const settings: RecycleSettings = { ...readRecycleSettings(env), podUrl: `https://127.0.0.1:${port}/api/v1/namespaces/runners/pods/linux-2` };
    requests.length = 0;
    answers = [500, 200];
    assert.equal((await deletePodOverHttps(settings)).status, 500);
    writeFileSync(join(credentials, 'token'), 'token-2\n');
    assert.deepEqual(await deletePodOverHttps(settings), { status: 200, body: '{"kind":"Status","message":"from the stand-in"}' });
    assert.deepEqual(requests.map((r) => [r.method, r.url, r.authorization]), [
      ['DELETE', '/api/v1/namespaces/runners/pods/linux-2', 'Bearer token-1'],
      ['DELETE', '/api/v1/namespaces/runners/pods/linux-2', 'Bearer token-2'],
    ]);
    assert.deepEqual(JSON.parse(requests[0].body), { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: 'uid-7' } });
    writeFileSync(join(credentials, 'ca.crt'), stranger.cert);
    try {
      const refused = await deletePodOverHttps(settings);
      assert.equal(refused.status, 0);
      assert.match(refused.body, /self.signed certificate|unable to verify/i);
      assert.equal(requests.length, 2, 'nothing reached a server the CA does not vouch for');
    } finally {
      writeFileSync(join(credentials, 'ca.crt'), served.cert);
    }
  });

  it('the agent container\'s side: asks to start and waits for the answer, a minute at most', async () => {
    let pending = false;
    let waited = 0;
    const io = (answerAfterMs: number) => ({
      request: () => void (pending = true),
      answered: () => !pending,
      sleep: (ms: number) => {
        waited += ms;
        if (waited >= answerAfterMs) pending = false;
        return Promise.resolve();
      },
    });
    await awaitStartAllowed(io(700));
    assert.equal(waited, 700);
    waited = 0;
    await assert.rejects(awaitStartAllowed(io(Number.POSITIVE_INFINITY)), (error: Error) => error instanceof SettingError && /did not answer within 60 s/.test(error.message));
    assert.equal(waited, 60_000);
  });

  it('as the bundle, both sides of the hand-off: the agent container\'s request answered by the sidecar, then job-done', async () => {
    const bundle = join(dir, 'bundle', 'runner.js');
    await buildRunner(bundle);
    const shared = mkdtempSync(join(dir, 'shared-'));
    const start = spawn(process.execPath, [bundle, 'recycle-start', shared], { stdio: 'ignore' });
    const started = new Promise<number | null>((resolve) => start.on('exit', resolve));
    let answered = false;
    await recycleWhenDone({ ...readRecycleSettings({ ...env, AZP_RECYCLE_DIR: shared }) }, {
      jobDone: () => existsSync(join(shared, recycleFiles.jobDone)),
      startRequested: () => existsSync(join(shared, recycleFiles.agentStart)),
      allowStart: () => {
        rmSync(join(shared, recycleFiles.agentStart));
        answered = true;
      },
      deletePod: () => Promise.resolve({ status: 200, body: '' }),
      // Once it answered: the agent container's start goes on (its wait ends), its agent runs the job, it says so.
      sleep: async (ms) => {
        if (answered && !existsSync(join(shared, recycleFiles.jobDone))) {
          assert.equal(await started, 0, 'recycle-start ended once answered');
          execFileSync(process.execPath, [bundle, 'recycle-done', shared]);
        }
        await sleep(Math.min(ms, 20));
      },
      log: () => {},
      error: (message) => assert.fail(message),
    });
    assert.equal(await started, 0);
    assert.ok(existsSync(join(shared, recycleFiles.jobDone)));
  });

  it('never follows a link a job planted in the shared volume: a request or a job\'s end stays where the sidecar sees it', () => {
    // The job links agent-start and job-done into its work volume, which the sidecar does not mount: the old hand-off
    // wrote through the links, and a process the job left behind could answer the next start itself.
    const shared = mkdtempSync(join(dir, 'planted-'));
    const work = mkdtempSync(join(dir, 'work-'));
    for (const name of [recycleFiles.agentStart, recycleFiles.jobDone]) {
      symlinkSync(join(work, name), join(shared, name));
      assert.ok(handOffPresent(shared, name), 'a planted link, even dangling, counts for the sidecar');
      leaveHandOff(shared, name);
      assert.ok(lstatSync(join(shared, name)).isFile(), 'the link replaced by a file of its own');
      assert.ok(!existsSync(join(work, name)), 'nothing written through the link');
    }
  });

  it('as the bundle: stops with exit code 78 on a wrong setting, and 64 on an unknown command', async () => {
    const bundle = join(dir, 'bundle', 'runner.js');
    await buildRunner(bundle);
    const run = (args: string[], environment: NodeJS.ProcessEnv) => new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [bundle, ...args], { env: environment, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('exit', (code) => resolve({ code, stderr }));
    });
    assert.deepEqual(await run(['recycle'], { ...env, RUNNER_NAMESPACE: '' }), { code: 78, stderr: 'runner recycle: error: recycle mode needs RUNNER_POD_NAME, RUNNER_POD_UID and RUNNER_NAMESPACE (from the downward API)\n' });
    assert.deepEqual(await run(['docker', 'version'], {}), { code: 78, stderr: 'runner docker: error: AZP_POD_CONTAINERS is not set (set by the runner pod\'s manifest for dockerMode podContainers)\n' });
    assert.deepEqual(await run(['exec-server'], {}), { code: 64, stderr: 'runner exec-server: error: exec-server needs the socket to listen on: runner.js exec-server <socket dir>/<container name>.sock\n' });
    const unknown = await run(['register-agent'], {});
    assert.equal(unknown.code, 64);
    assert.match(unknown.stderr, /unknown command 'register-agent' \(expected settings, clean-slate, save-registration, restore-registration, share-externals, recycle, recycle-start, recycle-done, run, supervise, handshake, docker-proxy, docker, or exec-server\)/);
  });
});
