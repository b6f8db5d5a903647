// Benchmark: from a job's end to a fresh agent online in the same slot — ours (a new pod per job) against the seed's
// plain StatefulSet (the container restarted in place, with the kubelet's back-off) on the same cluster and image,
// and the floor (a pod deleted while idle: pod creation + container start + registration). Also our fallback for
// clusters without container restart rules: the recycle sidecar that deletes its own pod.
import { kubectl, legacyApiServer } from '../tests/support/cluster.js';
import { createNamespace, deleteNamespace, deployPool, startPoolWorld, type PoolWorld } from '../tests/support/runner-pool.js';
import type { AdminJob } from '../tests/support/emulator.js';
import { median } from '../src/core/statistics.js';

const OURS = 'Recycle ours';
const SEED = 'Recycle seed';
const SIDECAR = 'Recycle sidecar';
const NS = 'adr-recycle-bench';
const jobs = Number(process.env.RECYCLE_JOBS ?? 20);
// The seed's back-off doubles toward 300 s: 20 jobs would take over an hour, so it gets fewer unless asked.
const seedJobs = Number(process.env.RECYCLE_SEED_JOBS ?? 6);

const stats = (values: number[]) => `${median(values).toFixed(1)} ${Math.max(...values).toFixed(1)}`;

/** Queues `count + 1` quick jobs on a one-slot pool and returns each gap: job end → the next job assigned. */
async function gaps(world: PoolWorld, pool: string, count: number): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i <= count; i++) ids.push(((await world.emulator.admin.queueJob({ pool, name: `r${i}`, script: 'echo hi' })) as AdminJob).requestId);
  const done: AdminJob[] = [];
  for (const id of ids) done.push(await world.emulator.admin.waitForJob(id, 30 * 60_000));
  return done.slice(1).map((job, i) => (Date.parse(job.assignTime!) - Date.parse(done[i].finishTime!)) / 1000);
}

/** The seed's design: the image's all-in-one mode in a plain StatefulSet, the PAT in the container's environment. */
function seedManifest(world: PoolWorld): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'seed-pat', namespace: NS }, stringData: { token: world.token } },
      {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: { name: 'seed', namespace: NS },
        spec: {
          replicas: 1,
          serviceName: 'seed',
          selector: { matchLabels: { app: 'seed' } },
          template: {
            metadata: { labels: { app: 'seed' } },
            spec: {
              containers: [
                {
                  name: 'agent',
                  image: world.image,
                  env: [
                    { name: 'AZP_URL', value: world.emulator.orgUrl },
                    { name: 'AZP_POOL', value: SEED },
                    { name: 'AZP_AGENT_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                    { name: 'AZP_TOKEN', valueFrom: { secretKeyRef: { name: 'seed-pat', key: 'token' } } },
                  ],
                },
              ],
            },
          },
        },
      },
    ],
  });
}

async function main() {
  const world = await startPoolWorld(OURS, 'recycle-bench');
  await world.emulator.admin.createPool(SEED);
  await world.emulator.admin.createPool(SIDECAR);
  // The sidecar reaches the API server as the kubernetes Service: on the local cluster, its second API server.
  await legacyApiServer();
  await createNamespace(NS);
  const deploy = async (poolName: string, runnerName: string, extra: Record<string, string> = {}) => {
    const deployed = await deployPool(world, { namespace: NS, poolName, runnerName, replicas: '1', ...extra });
    if (deployed.result !== 'Succeeded') throw new Error(`deploy failed: ${deployed.message}`);
  };
  try {
    await deploy(OURS, 'ours');
    const ours = await gaps(world, OURS, jobs);
    console.log(`recycle-ours-gaps-s: ${ours.map((g) => g.toFixed(1)).join(' ')}`);

    // The floor: an idle slot's pod deleted, until its agent is online again.
    const floor: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = Date.now();
      await kubectl(['delete', 'pod', 'ours-0', '-n', NS, '--wait=false']);
      await world.emulator.admin.waitFor(
        () => world.emulator.admin.agents(OURS),
        (agents) => agents.some((a) => a.name === 'ours-0' && a.status === 'online' && Date.parse(String(a.statusChangedOn)) > started + 500),
        120_000,
        'ours-0 online again',
      );
      floor.push((Date.now() - started) / 1000);
    }
    await kubectl(['scale', 'statefulset', 'ours', '-n', NS, '--replicas=0']);

    await deploy(SIDECAR, 'sidecar', { podRecycling: 'sidecar' });
    const sidecar = await gaps(world, SIDECAR, jobs);
    console.log(`recycle-sidecar-gaps-s: ${sidecar.map((g) => g.toFixed(1)).join(' ')}`);
    await kubectl(['scale', 'statefulset', 'sidecar', '-n', NS, '--replicas=0']);

    await kubectl(['apply', '-f', '-'], { input: seedManifest(world) });
    // The service takes jobs for a pool only once an agent that could run them is registered.
    await world.emulator.admin.waitFor(() => world.emulator.admin.agents(SEED), (agents) => agents.some((a) => a.status === 'online'), 120_000, 'the seed agent online');
    const seed = await gaps(world, SEED, seedJobs);
    console.log(`recycle-seed-gaps-s: ${seed.map((g) => g.toFixed(1)).join(' ')} (${seedJobs} jobs)`);

    console.log(`recycle-ours-s: ${stats(ours)}`);
    console.log(`recycle-sidecar-s: ${stats(sidecar)}`);
    console.log(`recycle-seed-s: ${stats(seed)}`);
    console.log(`recycle-floor-s: ${median(floor).toFixed(1)}`);
    console.log(`recycle-ratio-seed-over-ours: ${(median(seed) / median(ours)).toFixed(1)}`);
  } finally {
    await deleteNamespace(NS);
    await world.stop();
  }
}

await main();
