// E2E: the local trial as a newcomer meets it. `npm start -- --ci` on a machine whose cluster is stopped: it starts
// everything, deploys a pool through the command line, runs a job, checks that the hub answers, and stops, leaving the
// machine as it found it. Then `npm start` on a running cluster, more jobs queued into it from a second terminal, and
// `npm stop`: the cluster stays up, everything the trial started goes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { localClusterEnv } from '../support/cluster.js';
import { output, run } from '../support/process.js';
import { repoRoot } from '../support/task-manifests.js';

const clusterScript = join(repoRoot, 'tests', 'cluster', 'cluster.sh');

/** What the trial could leave behind on the machine: processes, addresses, namespaces, firewall rules, mounts, ports. */
async function machine(): Promise<Record<string, string[]>> {
  const lines = (text: string) => text.split('\n').map((line) => line.trim()).filter(Boolean).sort();
  const status = await run(clusterScript, ['status']);
  const env = await localClusterEnv();
  const trialProcesses = spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout.split('\n').filter((args) => args.includes('trial/main.ts'));
  return {
    cluster: lines(status.stdout).filter((line) => /^[a-z-]+: /.test(line)).map((line) => line.replace(/ \(pid \d+\)$/, '')),
    addresses: lines(await output('ip', ['-o', 'addr', 'show'])).map((line) => line.replace(/\s+valid_lft.*$/, '')),
    netns: lines(await output('ip', ['netns', 'list'])),
    firewall: lines((await run('iptables', ['-w', '-S'])).stdout),
    mounts: lines(readFileSync('/proc/self/mountinfo', 'utf8')).map((line) => line.split(' ')[4]),
    // The trial's own ports, and any on the addresses pods reach (other programs on the machine may come and go).
    listening: lines(await output('ss', ['-Hltn'])).map((line) => line.split(/\s+/)[3]).filter((address) => /:880[01]$|^10\.(250\.0|96\.0)\.1:/.test(address)),
    trial: [...trialProcesses, ...(existsSync('/run/adr-trial') ? ['/run/adr-trial'] : [])],
    namespaces: status.code === 0 ? lines(await output(env.get('KUBECTL')!, ['--kubeconfig', env.get('KUBECONFIG')!, 'get', 'namespaces', '-o', 'name'])) : [],
  };
}

/** `npm <args>` from the repository, as a person types it. */
function npm(args: string[], timeoutMs = 10 * 60_000) {
  return run('npm', args, { timeoutMs, env: { ...process.env, KUBECONFIG: '' } });
}

describe('npm start, the local trial', { timeout: 14 * 60_000 }, () => {
  it('--ci on a stopped cluster: a job runs on the pool it deployed, the hub answers, and the machine is left as it was', async () => {
    await output(clusterScript, ['down'], { timeoutMs: 180_000 });
    const before = await machine();
    const trial = await npm(['start', '--', '--ci']);
    assert.equal(trial.code, 0, `${trial.stdout}\n${trial.stderr}`);
    assert.match(trial.stdout, /✓ Starting the local Kubernetes cluster/);
    assert.match(trial.stdout, /\$ azure-devops-runner deploy .*--autoscaling inCluster/);
    assert.match(trial.stdout, /✓ Deploying the pool with the in-cluster autoscaler, through the command line/);
    assert.match(trial.stdout, /✓ Running one job[\s\S]*✓ Checking that the hub answers/);
    assert.match(trial.stdout, /✓ Removing the pool through the command line[\s\S]*✓ Stopping the local cluster/);
    assert.match(trial.stdout, /The trial worked: a job ran on the pool and the hub answered/);
    assert.deepEqual(await machine(), before);
  });

  it('on a running cluster: sample jobs, more queued from another terminal, npm stop; the cluster stays up, the rest goes', async () => {
    await output(clusterScript, ['up'], { timeoutMs: 180_000 });
    const before = await machine();
    const child = spawn('npm', ['start', '--', '--jobs', '2'], { cwd: repoRoot, env: { ...process.env, KUBECONFIG: '' } });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stdout += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const until = async (pattern: RegExp, ms: number) => {
      for (const end = Date.now() + ms; !pattern.test(stdout); await new Promise((resolve) => setTimeout(resolve, 500))) {
        if (Date.now() > end) assert.fail(`waited ${ms} ms for ${pattern}:\n${stdout}`);
      }
    };
    try {
      await until(/The trial runs/, 8 * 60_000);
      assert.match(stdout, /Using the local cluster that runs already/);
      const hubUrl = /The Runner pools hub, live: +(\S+)/.exec(stdout)![1];
      assert.equal((await fetch(hubUrl)).status, 200);
      const more = await npm(['start', '--', '--jobs', '1'], 60_000);
      assert.equal(more.code, 0, more.stdout + more.stderr);
      assert.match(more.stdout, /Queued 1 jobs into the running trial/);
      await until(/(succeeded on trial-\d[\s\S]*){3}/, 4 * 60_000);
    } finally {
      const stopped = await npm(['stop'], 5 * 60_000);
      assert.equal(stopped.code, 0, stopped.stdout + stopped.stderr);
    }
    assert.equal(await exited, 0, stdout);
    assert.match(stdout, /✓ Removing the pool through the command line[\s\S]*✓ Stopping the second API server/);
    assert.doesNotMatch(stdout, /Stopping the local cluster/);
    assert.deepEqual(await machine(), before);
  });
});
