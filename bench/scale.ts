// Benchmark: Azure DevOps calls per scaling decision for pools of 1, 50 and 500 agents with 0, 200 and 2000 queued
// jobs (the emulator counts every request), and 20 jobs queued at zero replicas to 20 agents online in watch mode on
// the real cluster, with where that time goes (BURST=0 skips that part).
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { cluster, kubectl } from '../tests/support/cluster.js';
import { startEmulator } from '../tests/support/emulator.js';
import { seedRunnerPool } from '../tests/support/hub-fixture.js';
import { kubernetesConnectionId, runBundledTask } from '../tests/support/run-task.js';
import { createNamespace, deleteNamespace, smallPods, startPoolWorld } from '../tests/support/runner-pool.js';
import { scaleRunnerPool } from '../src/flows/scale-pool.js';
import { RestAdoClient } from '../src/clients/ado-rest.js';
import { HttpKubeClient, loadKubeConfig } from '../src/clients/kube-http.js';
import type { KubeObject } from '../src/core/ports/kube.js';
import { InputReader } from '../src/core/inputs.js';
import { readScaleOptions } from '../src/core/scale-options.js';
import { systemClock } from '../src/clients/system-clock.js';
import { DEFAULT_PAT } from '../tests/support/emulator.js';
import { MemoryHost } from '../tests/support/memory-host.js';

const NS = 'adr-scale-bench';

async function callsPerDecision(): Promise<void> {
  const k = await cluster();
  await createNamespace(NS);
  // The decision reads the StatefulSet; a pool of zero pods is enough for counting Azure DevOps calls.
  await kubectl(['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'bench', namespace: NS },
      spec: { replicas: 0, serviceName: 'bench', selector: { matchLabels: { app: 'bench' } }, template: { metadata: { labels: { app: 'bench' } }, spec: { containers: [{ name: 'c', image: 'none:1' }] } } },
    }),
  });
  const kube = new HttpKubeClient(loadKubeConfig(k.kubeconfig));
  for (const agents of [1, 50, 500]) {
    for (const jobs of [0, 200, 2000]) {
      const emulator = await startEmulator();
      try {
        // Offline slots: the queued jobs wait (nothing takes them) and count, as at zero replicas.
        await seedRunnerPool(emulator, { poolName: 'Bench', runnerName: 'bench', namespace: NS, queued: jobs, snapshot: false, slots: Array.from({ length: agents }, () => ({ state: 'offline' as const })) });
        const host = new MemoryHost({ kubernetesServiceConnection: 'unused', namespace: NS, runnerName: 'bench', azureDevOpsUrl: emulator.orgUrl, poolName: 'Bench', personalAccessToken: DEFAULT_PAT.token, maxReplicas: '500', dryRun: 'true' });
        const options = readScaleOptions(new InputReader(host));
        const ado = new RestAdoClient({ organizationUrl: emulator.orgUrl, token: DEFAULT_PAT.token, sleep, log: () => {} });
        await emulator.admin.clearRequests();
        const started = performance.now();
        const decision = await scaleRunnerPool(options, { host, ado, connect: async () => kube, clock: systemClock });
        const ms = performance.now() - started;
        const calls = (await emulator.admin.requests()).length;
        if (decision.queuedJobs !== jobs) throw new Error(`counted ${decision.queuedJobs} of ${jobs} queued jobs`);
        console.log(`ado-calls-per-decision ${agents}x${jobs}: ${calls} (${ms.toFixed(0)} ms)`);
      } finally {
        await emulator.stop();
      }
    }
  }
  await deleteNamespace(NS);
}

async function burst(): Promise<void> {
  const pool = 'Burst';
  const world = await startPoolWorld(pool, 'burst-bench');
  const ns = 'adr-burst-bench';
  await createNamespace(ns);
  try {
    const common = { kubernetesServiceConnection: kubernetesConnectionId, namespace: ns, runnerName: 'burst', azureDevOpsUrl: world.emulator.orgUrl, poolName: pool, personalAccessToken: world.token };
    const deployed = await runBundledTask('DeployRunnerPool', { ...common, ...smallPods, image: world.image, replicas: '1' }, world.endpointEnv);
    if (deployed.result !== 'Succeeded') throw new Error(deployed.message);
    await runBundledTask('ScaleRunnerPool', { ...common, mode: 'fixed', replicas: '0' }, world.endpointEnv);
    await world.emulator.admin.waitFor(() => world.emulator.admin.agents(pool), (a) => a.every((x) => x.status === 'offline'), 60_000, 'offline');
    for (let i = 0; i < 20; i++) await world.emulator.admin.queueJob({ pool, script: 'sleep 20' });
    const started = performance.now();
    const seconds = () => ((performance.now() - started) / 1000).toFixed(1);
    const watch = runBundledTask('ScaleRunnerPool', { ...common, mode: 'queue', maxReplicas: '20', watchMinutes: '2', intervalSeconds: '5' }, world.endpointEnv);
    // Where the time goes: the task's decision, the pods' start (scheduling, the registering init container), the agents.
    const kube = new HttpKubeClient(loadKubeConfig(world.cluster.kubeconfig));
    const milestones = (async () => {
      const statefulSet = { apiVersion: 'apps/v1', kind: 'StatefulSet', namespace: ns, name: 'burst' };
      while (((await kube.get(statefulSet))?.spec as { replicas?: number } | undefined)?.replicas !== 20) await sleep(100);
      console.log(`burst-20-scaled-s: ${seconds()}`);
      const agentRunning = (pod: KubeObject) => (pod.status as { containerStatuses?: Array<{ name: string; state?: { running?: object } }> } | undefined)?.containerStatuses?.some((c) => c.name === 'agent' && c.state?.running !== undefined);
      while ((await kube.list('v1', 'Pod', ns, 'app.kubernetes.io/instance=burst')).filter(agentRunning).length < 20) await sleep(250);
      console.log(`burst-20-agent-containers-running-s: ${seconds()}`);
    })();
    await world.emulator.admin.waitFor(() => world.emulator.admin.agents(pool), (a) => a.filter((x) => x.status === 'online').length >= 20, 300_000, '20 agents online');
    console.log(`burst-20-from-zero-s: ${seconds()}`);
    await milestones;
    await watch;
  } finally {
    await deleteNamespace(ns);
    await world.stop();
  }
}

await callsPerDecision();
if (process.env.BURST !== '0') await burst();
