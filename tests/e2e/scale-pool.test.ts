// E2E: ScaleRunnerPool, run as the bundled task, on the real cluster against the emulator: scaling from zero on the
// queue, counting only jobs the pool can run, never removing a busy slot, and converging while throttled.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { run } from '../support/process.js';
import { kubectl, kubectlJson } from '../support/cluster.js';
import { runBundledTask } from '../support/run-task.js';
import { unpackAgent } from '../support/agent-package.js';
import { createNamespace, deleteNamespace, startPoolWorld, type PoolWorld } from '../support/runner-pool.js';
import type { AdminJob } from '../support/emulator.js';

const POOL = 'Scale Pool';
const NS = 'adr-scale-e2e';
// Each randomized scale-down trial recycles pods on a 2-core machine (~10 s); SCALE_TRIALS=100 for the long run.
const trials = Number(process.env.SCALE_TRIALS ?? 20);
let world: PoolWorld;

function scale(inputs: Record<string, string>) {
  return runBundledTask(
    'ScaleRunnerPool',
    {
      kubernetesServiceConnection: 'K8S',
      namespace: NS,
      runnerName: 'scale',
      azureDevOpsUrl: world.emulator.orgUrl,
      poolName: POOL,
      personalAccessToken: world.token,
      ...inputs,
    },
    world.endpointEnv,
  );
}

async function replicas(): Promise<number> {
  return (await kubectlJson<{ spec: { replicas: number } }>(['get', 'statefulset', 'scale', '-n', NS])).spec.replicas;
}

async function queue(demands: string[] = [], script = 'echo hi'): Promise<number> {
  const job = (await world.emulator.admin.queueJob({ pool: POOL, demands, script })) as AdminJob;
  assert.ok(job.requestId, JSON.stringify(job));
  return job.requestId;
}

async function onlineAgents(): Promise<string[]> {
  return (await world.emulator.admin.agents(POOL)).filter((a) => a.status === 'online').map((a) => String(a.name));
}

describe('ScaleRunnerPool on a real cluster', { timeout: 40 * 60_000 }, () => {
  before(async () => {
    world = await startPoolWorld(POOL, 'scale-e2e');
    await createNamespace(NS);
    const deployed = await runBundledTask(
      'DeployRunnerPool',
      { kubernetesServiceConnection: 'K8S', namespace: NS, poolName: POOL, runnerName: 'scale', azureDevOpsUrl: world.emulator.orgUrl, image: world.image, personalAccessToken: world.token, replicas: '1' },
      world.endpointEnv,
    );
    assert.equal(deployed.result, 'Succeeded', deployed.message);
    // Slot 0 is registered now; at zero replicas its offline registration is what lets jobs queue.
    const down = await scale({ mode: 'fixed', replicas: '0' });
    assert.equal(down.result, 'Succeeded', down.message);
    await world.emulator.admin.waitFor(onlineAgents, (names) => names.length === 0, 60_000, 'slot 0 to go offline');
  });

  after(async () => {
    await deleteNamespace(NS);
    await world?.stop();
  });

  it('counts only queued jobs this pool can run', async () => {
    // Another agent of the pool has a GPU, so the service accepts GPU jobs; our runners cannot take them.
    const dir = await unpackAgent('gpu-agent-');
    // Asynchronously: the emulator answering config.sh runs in this very process.
    const configured = await run(
      `${dir}/config.sh`,
      ['--unattended', '--url', world.emulator.orgUrl, '--auth', 'pat', '--token', world.token, '--pool', POOL, '--agent', 'gpu-box', '--acceptTeeEula'],
      { env: { ...process.env, AGENT_ALLOW_RUNASROOT: '1', gpu: 'yes' }, timeoutMs: 60_000 },
    );
    assert.equal(configured.code, 0, configured.stderr);
    const jobs = [await queue(), await queue(), await queue(['gpu']), await queue(['gpu']), await queue(['gpu'])];
    const decision = await scale({ mode: 'queue', minReplicas: '0', maxReplicas: '10', dryRun: 'true' });
    assert.equal(decision.result, 'Succeeded', decision.message);
    assert.equal(decision.outputs.queuedJobs, '2');
    assert.equal(decision.outputs.replicas, '2');
    assert.equal(await replicas(), 0, 'a dry run changes nothing');
    for (const id of jobs) await world.emulator.admin.cancelJob(id);
  });

  it('runs 20 jobs queued at zero on 20 agents, in watch mode', async () => {
    const ids: number[] = [];
    for (let i = 0; i < 20; i++) ids.push(await queue([], 'sleep 5; echo done'));
    const watched = await scale({ mode: 'queue', minReplicas: '0', maxReplicas: '20', watchMinutes: '2', intervalSeconds: '5' });
    assert.equal(watched.result, 'Succeeded', watched.message);
    assert.match(watched.stdout, /scale up from 0 to 20/);
    for (const id of ids) assert.equal((await world.emulator.admin.waitForJob(id, 300_000)).result, 'succeeded');
    const names = (await world.emulator.admin.agents(POOL)).map((a) => String(a.name)).filter((n) => n.startsWith('scale-'));
    assert.equal(new Set(names).size, 20, 'twenty slots registered');
    assert.equal(watched.outputs.queuedJobs, '0');
  });

  it(`never removes a busy slot when scaling down (${trials} randomized trials)`, async () => {
    const slots = 5;
    let seed = 20261128;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let trial = 0; trial < trials; trial++) {
      await kubectl(['scale', 'statefulset', 'scale', '-n', NS, `--replicas=${slots}`]);
      await world.emulator.admin.waitFor(onlineAgents, (names) => Array.from({ length: slots }, (_, i) => `scale-${i}`).every((n) => names.includes(n)), 180_000, `${slots} slots online`);
      const busy = Array.from({ length: slots }, (_, i) => i).filter(() => random() < 0.4);
      if (busy.length === 0) busy.push(Math.floor(random() * slots));
      const jobs: number[] = [];
      for (const slot of busy) jobs.push(await queue([`Agent.Name -equals scale-${slot}`], 'sleep 600'));
      await world.emulator.admin.waitFor(() => Promise.all(jobs.map((id) => world.emulator.admin.job(id))), (all) => all.every((j) => j.state === 'running'), 60_000, 'the busy slots to run');
      const target = Math.floor(random() * slots);
      const result = await scale({ mode: 'fixed', replicas: String(target) });
      assert.equal(result.result, 'Succeeded', result.message);
      const floor = Math.max(...busy) + 1;
      assert.equal(await replicas(), Math.max(target, floor), `trial ${trial}: busy ${busy}, target ${target}`);
      if (floor > target) assert.match(result.stdout, /deferred: slot \d+ is busy/);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      for (const id of jobs) assert.equal((await world.emulator.admin.job(id)).state, 'running', `trial ${trial}: job on a busy slot survived`);
      for (const id of jobs) await world.emulator.admin.cancelJob(id);
      for (const id of jobs) assert.equal((await world.emulator.admin.waitForJob(id, 60_000)).result, 'canceled');
    }
  });

  it('converges while Azure DevOps throttles, and reports the delay', async () => {
    await world.emulator.admin.addFault({ path: 'jobrequests', kind: 'rateLimit', retryAfterSeconds: 2, count: 2 });
    const result = await scale({ mode: 'queue', minReplicas: '1', maxReplicas: '5' });
    await world.emulator.admin.clearFaults();
    assert.equal(result.result, 'Succeeded', result.message);
    assert.equal(await replicas(), Math.max(1, Number(result.outputs.replicas)));
    assert.ok(result.warnings.some((w) => /throttled this run: [1-9]\d* s/.test(w)), result.warnings.join('\n'));
  });
});
