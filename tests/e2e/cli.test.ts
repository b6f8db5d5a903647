// E2E: the command line on the real cluster, as a person runs it from a laptop that reaches the cluster: a kubeconfig
// holding only configs/deployer-rbac.yaml's Role (RBAC enforced: the cluster's second API server), the PAT on stdin or
// in AZURE_DEVOPS_EXT_PAT. deploy (with the in-cluster autoscaler), status while a job runs, remove refused while it
// runs, then remove leaving nothing of the pool in the namespace or the agent pool; the PAT never shows.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump, load } from 'js-yaml';
import { cliBundle } from '../../scripts/build.mjs';
import { kubectl, legacyApiServer } from '../support/cluster.js';
import { createNamespace, deleteNamespace, deployerRbac, readSnapshot, smallPods, startPoolWorld, type PoolWorld } from '../support/runner-pool.js';
import { finished, probeScript } from '../support/pool-jobs.js';
import type { AdminJob } from '../support/emulator.js';

const POOL = 'Command Line';
const NS = 'adr-cli-e2e';
let world: PoolWorld;
let scratch: string;
let deployerKubeconfig: string;
/** The job running while status and the refused remove look at the pool. */
let running: number;

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** What ps and /proc showed of the running process: its command line, and its environment. */
  cmdline: string;
  environ: string;
  /** Given its PAT on stdin. */
  stdinToken: boolean;
}
const runs: CliRun[] = [];

/** Runs the bundled command line as a person would, in a home, temp and work folder of its own. */
function cli(args: string[], token: 'stdin' | 'env' = 'env'): Promise<CliRun> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '', HOME: join(scratch, 'home'), TMPDIR: join(scratch, 'tmp'), KUBECONFIG: deployerKubeconfig,
    ...(token === 'env' && { AZURE_DEVOPS_EXT_PAT: world.token }),
  };
  const child = spawn(process.execPath, [cliBundle, ...args, ...(token === 'stdin' ? ['--token-stdin'] : [])], { cwd: join(scratch, 'work'), env });
  const proc = (file: string) => {
    try {
      return readFileSync(`/proc/${child.pid}/${file}`, 'utf8');
    } catch {
      return '';
    }
  };
  // What anyone on the machine could read of it, sampled when spawn() returns: the child has exec'd its own program
  // then, and one given --token-stdin is sure to be running, since its stdin is given only after the sample. Another
  // run may in theory have ended already (an empty sample); the stdin runs prove that samples are taken.
  const [cmdline, environ] = [proc('cmdline'), proc('environ')];
  child.stdin.end(token === 'stdin' ? `${world.token}\n` : '');
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      const run = { code: code ?? 1, stdout, stderr, cmdline, environ, stdinToken: token === 'stdin' };
      runs.push(run);
      resolve(run);
    });
  });
}

const poolFlags = () => ['--namespace', NS, '--poolName', POOL, '--runnerName', 'cli', '--azureDevOpsUrl', world.emulator.orgUrl];

/** The hub's snapshot of the runner, read as the hub reads it. */
const snapshot = () => readSnapshot(world, `${NS}.cli`);

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe('the command line on a real cluster', { timeout: 12 * 60_000 }, () => {
  before(async () => {
    const legacyKubeconfig = await legacyApiServer();
    world = await startPoolWorld(POOL, 'cli-e2e');
    await createNamespace(NS);
    await kubectl(['apply', '-f', '-'], { input: deployerRbac(NS) });
    scratch = mkdtempSync(join(tmpdir(), 'adr-cli-e2e-'));
    for (const dir of ['home', 'tmp', 'work']) mkdirSync(join(scratch, dir));
    // A laptop's kubeconfig: the deployer's service account token, on the API server that enforces RBAC.
    const admin = load(readFileSync(legacyKubeconfig, 'utf8')) as { clusters: Array<{ cluster: Record<string, string> }> };
    const token = (await kubectl(['create', 'token', 'runner-deployer', '-n', NS, '--duration=1h'])).trim();
    deployerKubeconfig = join(scratch, 'home', 'deployer.kubeconfig');
    writeFileSync(deployerKubeconfig, dump({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'deployer',
      clusters: [{ name: 'cluster', cluster: admin.clusters[0].cluster }],
      users: [{ name: 'runner-deployer', user: { token } }],
      contexts: [{ name: 'deployer', context: { cluster: 'cluster', user: 'runner-deployer', namespace: NS } }],
    }), { mode: 0o600 });
  });

  after(async () => {
    await deleteNamespace(NS);
    await world?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('deploys a pool with the in-cluster autoscaler, under the deployer\'s least-privilege Role', async () => {
    const deployed = await cli(['deploy', ...poolFlags(), '--image', world.image, '--autoscaling', 'inCluster', '--minReplicas', '0', '--maxReplicas', '3',
      '--pollSeconds', '2', '--rolloutStatusTimeout', '180', ...Object.entries(smallPods).flatMap(([name, value]) => [`--${name}`, value])], 'stdin');
    assert.equal(deployed.code, 0, deployed.stderr);
    assert.match(deployed.stdout, /^statefulSetName=cli$/m);
    assert.match(deployed.stderr, /The autoscaler cli-autoscaler runs/);
    // The autoscaler starts slot 0 once, so that the pool has a registration and jobs can queue.
    await world.emulator.admin.waitFor(() => world.emulator.admin.agents(POOL), (agents) => agents.some((agent) => agent.name === 'cli-0'), 120_000, 'cli-0 registered');
  });

  it('shows the pool as the hub does: the slot running a job, its job, its pod', async () => {
    running = ((await world.emulator.admin.queueJob({ pool: POOL, name: 'cli-probe', script: probeScript(world, 40) })) as AdminJob).requestId;
    await world.emulator.admin.waitFor(() => world.emulator.admin.job(running), (j) => j.state === 'running', 180_000, 'the job to run');
    const table = await cli(['status', ...poolFlags()]);
    assert.equal(table.code, 0, table.stderr);
    const row = table.stdout.split('\n').find((line) => line.startsWith('cli-0 '));
    assert.match(row ?? '', /^cli-0\s+Busy\s+#\d+ online\s+emulated · cli-probe \(#\d+\)\s+Running, ready\s+\d+\s+adr-node\s+\d+ (s|min)$/, table.stdout);
    assert.match(table.stdout, /set by the in-cluster autoscaler \(cli-autoscaler: running\)/);
    const json = await cli(['status', ...poolFlags(), '--output', 'json'], 'stdin');
    const view = JSON.parse(json.stdout).view;
    assert.equal(view.slots.find((slot: { podName: string }) => slot.podName === 'cli-0').state, 'busy');
    assert.equal(view.counters.busy, 1);
  });

  it('refuses to remove the pool while a job runs on it (exit 3), changing nothing', async () => {
    const refused = await cli(['remove', ...poolFlags(), '--waitSeconds', '0']);
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.stderr, /cli-0 runs a job; nothing was removed/);
    assert.match(await kubectl(['get', 'statefulset,deployment', '-n', NS, '-o', 'name']), /statefulset.apps\/cli[\s\S]*deployment.apps\/cli-autoscaler/);
  });

  it('removes it once the job has ended: no object of the pool in the namespace, no registration in the agent pool', async () => {
    assert.ok(await snapshot(), 'the hub had a snapshot of the pool');
    const removed = await cli(['remove', ...poolFlags()], 'stdin');
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stderr, /Waiting for the job on cli-0 to end/);
    const [{ job, log }] = await finished(world, [running], 60_000);
    assert.equal(job.result, 'succeeded', `the job was not cut off: ${log}`);
    const left = (await kubectl(['get', 'all,secrets,serviceaccounts,roles,rolebindings,poddisruptionbudgets,configmaps,persistentvolumeclaims', '-n', NS, '-o', 'name'])).trim().split('\n').sort();
    // What the namespace had before the pool: the deployer's access, and what Kubernetes puts in every namespace.
    assert.deepEqual(left, ['configmap/kube-root-ca.crt', 'role.rbac.authorization.k8s.io/runner-deployer', 'rolebinding.rbac.authorization.k8s.io/runner-deployer',
      'serviceaccount/default', 'serviceaccount/runner-deployer']);
    assert.deepEqual(await world.emulator.admin.agents(POOL), []);
    assert.equal(await snapshot(), undefined, 'the hub shows the pool no more');
  });

  it('never shows the PAT: not in its output, its process entry or its files', () => {
    assert.ok(runs.length >= 5);
    for (const run of runs) {
      assert.ok(!run.stdout.includes(world.token) && !run.stderr.includes(world.token), 'not in its output');
      assert.ok(!run.cmdline.includes(world.token), 'not in its command line');
    }
    // A run given its PAT on stdin was surely sampled (it waited for its stdin): those prove the samples exist.
    const fromStdin = runs.filter((run) => run.cmdline.includes('--token-stdin'));
    assert.equal(fromStdin.length, runs.filter((run) => run.stdinToken).length, 'every run given its PAT on stdin was sampled');
    assert.ok(fromStdin.length >= 2 && fromStdin.every((run) => run.environ !== '' && !run.environ.includes(world.token)), 'read from stdin: not in its environment either');
    for (const file of filesUnder(scratch)) assert.ok(!readFileSync(file, 'utf8').includes(world.token), `not in ${file}`);
  });
});
