// E2E: two runners in one Azure DevOps pool, both scaled by their in-cluster autoscaler, on the real cluster with the
// real runner image, against the emulator. `tools` offers a capability (TOOLBOX, from DeployRunnerPool's `env`) that
// `plain` lacks. In a burst from zero, each waiting job must scale exactly one of them: the pool gets as many new agents
// as jobs, and every job runs on a runner that satisfies it (src/core/assignment.ts).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { kubectl, kubectlJson, legacyApiServer, waitFor } from '../support/cluster.js';
import { createNamespace, deleteNamespace, deployPool, startPoolWorld, type PoolWorld } from '../support/runner-pool.js';
import { finished, probeField } from '../support/pool-jobs.js';

const POOL = 'Shared';
const NS = 'adr-shared-pool-e2e';
const runners = ['plain', 'tools'] as const;
type Runner = (typeof runners)[number];
/** Jobs demanding TOOLBOX (only `tools` can take them) and jobs demanding nothing (both can; the rule picks `plain`). */
const toolboxJobs = 2;
const plainJobs = 3;
let world: PoolWorld;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

const replicas = async (runner: Runner) => (await kubectlJson<Any>(['get', 'statefulset', runner, '-n', NS])).spec.replicas as number;
const runnerPods = async (runner: Runner) => (await kubectlJson<Any>(['get', 'pods', '-n', NS, '-l', `app.kubernetes.io/name=azure-devops-runner,app.kubernetes.io/instance=${runner}`])).items as Any[];
const autoscalerLog = (runner: Runner) => kubectl(['logs', '-n', NS, `deployment/${runner}-autoscaler`, '--tail=-1']);

/**
 * A gate the jobs wait at until the test opens it: no job ends, so no slot gets a fresh idle pod, before every job of
 * the burst has an agent. It listens where the emulator does, which the pods reach.
 */
async function startGate(host: string): Promise<{ url: string; open(): void; close(): Promise<void> }> {
  let opened = false;
  const server: Server = createServer((_request, response) => {
    response.writeHead(opened ? 200 : 503).end();
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    url: `http://${host}:${(server.address() as AddressInfo).port}/`,
    open: () => { opened = true; },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Notes the highest replica count each StatefulSet reaches, polled every second until stopped. */
function watchPeaks(): { stop(): Promise<Record<Runner, number>> } {
  const peaks: Record<Runner, number> = { plain: 0, tools: 0 };
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      for (const runner of runners) peaks[runner] = Math.max(peaks[runner], await replicas(runner));
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  })();
  return {
    async stop() {
      watching = false;
      await watcher;
      return peaks;
    },
  };
}

describe('two autoscaled runners sharing one pool', { timeout: 12 * 60_000 }, () => {
  before(async () => {
    // Pods reach the API server as the kubernetes Service (10.96.0.1): the local cluster's second, RBAC-enforcing one.
    await legacyApiServer();
    world = await startPoolWorld(POOL, 'shared-pool-e2e');
    await createNamespace(NS);
  });

  after(async () => {
    for (const runner of runners) console.log(`${runner}-autoscaler:\n${await autoscalerLog(runner).catch((error: Error) => error.message)}`);
    await deleteNamespace(NS);
    await world?.stop();
  });

  it('scales one runner per waiting job in a burst from zero, each job on a runner that satisfies it', async () => {
    const deploy = (runner: Runner, env: string) => deployPool(world, {
      namespace: NS, poolName: POOL, runnerName: runner, autoscaling: 'inCluster', minReplicas: '0', maxReplicas: '8', standby: '0',
      pollSeconds: '2', rolloutStatusTimeout: '180', env,
    });
    const deployed = await Promise.all([deploy('plain', ''), deploy('tools', 'TOOLBOX=yes')]);
    for (const run of deployed) assert.equal(run.result, 'Succeeded', run.message);

    // A runner with no registration gets no job (the pool rejects what no agent could take): each autoscaler runs its
    // slot 0 once to register, then returns to zero. The burst starts once both are registered and have no pod left.
    await world.emulator.admin.waitFor(() => world.emulator.admin.agents(POOL),
      (agents) => runners.every((runner) => agents.some((agent) => agent.name === `${runner}-0`)), 150_000, 'both runners registered');
    const tools0 = (await world.emulator.admin.agents(POOL)).find((agent) => agent.name === 'tools-0') as Any;
    assert.equal(tools0.systemCapabilities?.TOOLBOX, 'yes', 'the env input is an agent capability');
    for (const runner of runners) {
      await waitFor(`${runner} back at zero with no pod`, 240_000, async () => ((await replicas(runner)) === 0 && (await runnerPods(runner)).length === 0 ? true : undefined));
    }

    // Why the outcome is the rule's, not the emulator's luck. The emulator hands each waiting job, oldest first, to the
    // idle matching agent with the lowest id. The TOOLBOX jobs are queued first (in milliseconds, long before a pod can
    // start), so an idle `tools` agent always takes a TOOLBOX job while one waits, and never a plain one unless `tools`
    // has more agents than TOOLBOX jobs — which only a rule that let it count plain jobs too would give it. No job ends
    // before the gate opens, and the gate opens only once every job has an agent, so no recycled, idle pod can take a
    // job meant for the other runner. A rule counting every job for every runner that can take it would scale `tools`
    // to all five jobs and leave agents that never get one: the peaks below would not add up.
    const gate = await startGate(new URL(world.emulator.orgUrl).hostname);
    const script = [
      'echo "runner=$RUNNER_NAME toolbox=${TOOLBOX:-none} pod-uid=$RUNNER_POD_UID"',
      `until curl -fsS -o /dev/null "${gate.url}"; do sleep 1; done`,
      'echo released',
    ].join('\n');
    const peaks = watchPeaks();
    try {
      const queue = async (name: string, demands: string[]) => {
        const job = await world.emulator.admin.queueJob({ pool: POOL, name, script, demands });
        assert.ok(!('rejected' in job), `job queued: ${JSON.stringify(job)}`);
        return job.requestId;
      };
      const toolbox: number[] = [];
      const plain: number[] = [];
      for (let i = 0; i < toolboxJobs; i++) toolbox.push(await queue(`toolbox-${i}`, ['TOOLBOX']));
      for (let i = 0; i < plainJobs; i++) plain.push(await queue(`plain-${i}`, []));
      const all = [...toolbox, ...plain];
      await world.emulator.admin.waitFor(() => Promise.all(all.map((id) => world.emulator.admin.job(id))),
        (jobs) => jobs.every((job) => job.state === 'running'), 180_000, 'every job of the burst running');
      gate.open();
      const results = await finished(world, all, 120_000);
      const observed = await peaks.stop();

      for (const { job, log } of results) assert.equal(job.result, 'succeeded', log);
      const ranOn = (ids: number[]) => results.filter(({ job }) => ids.includes(job.requestId)).map(({ job, log }) => [job.agentName?.replace(/-\d+$/, ''), probeField(log, 'runner'), probeField(log, 'toolbox')]);
      assert.deepEqual(ranOn(toolbox), toolbox.map(() => ['tools', 'tools', 'yes']), 'the TOOLBOX jobs ran where TOOLBOX is');
      assert.deepEqual(ranOn(plain), plain.map(() => ['plain', 'plain', 'none']), 'the plain jobs ran on the runner offering least');
      assert.equal(new Set(results.map(({ log }) => probeField(log, 'pod-uid'))).size, all.length, 'every job in a pod of its own');
      // As many new agents as jobs: no runner ever had a slot more than the jobs it ran.
      assert.deepEqual(observed, { plain: plainJobs, tools: toolboxJobs }, 'the highest replica count of each runner');
    } finally {
      gate.open();
      await peaks.stop();
      await gate.close();
    }
    assert.match(await autoscalerLog('tools'), /\d+ more waiting jobs? (is|are) counted by another runner of the pool/, 'the reason says it left jobs to the other runner');
  });
});
