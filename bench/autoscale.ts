// Benchmark: the in-cluster autoscaler (DeployRunnerPool autoscaling: inCluster) on the real cluster, with its default
// pollSeconds (5) and with 2 and 1 on the same run: 20 jobs queued at zero → 20 agents online, one job on an idle pool
// at zero → the job received (median of three), and the Azure DevOps calls it makes per minute, idle at zero and busy
// with 20 running jobs (the emulator's request log, filtered to its PAT: each autoscaler has its own).
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { legacyApiServer, waitFor } from '../tests/support/cluster.js';
import { createNamespace, deleteNamespace, deployPool, startPoolWorld, type PoolWorld } from '../tests/support/runner-pool.js';
import type { AdminJob } from '../tests/support/emulator.js';
import { HttpKubeClient, loadKubeConfig } from '../src/clients/kube-http.js';
import { poolLabelSelector } from '../src/core/manifests/pool-labels.js';
import { median } from '../src/core/statistics.js';

const NS = 'adr-autoscale-bench';
// AUTOSCALE_POLLS=5 runs the default interval alone.
const polls = (process.env.AUTOSCALE_POLLS ?? '5,2,1').split(',').map(Number);
const firstJobSamples = 3;

interface Autoscaled {
  poll: number;
  pool: string;
  runner: string;
  principal: string;
}

let world: PoolWorld;
let kube: HttpKubeClient;

/** The default's figures carry the bare name; the others say their interval. */
const figure = (name: string, { poll }: Autoscaled) => (poll === 5 ? name : `${name} poll-${poll}s`);
const replicas = async ({ runner }: Autoscaled) => ((await kube.get({ apiVersion: 'apps/v1', kind: 'StatefulSet', namespace: NS, name: runner }))?.spec as { replicas: number }).replicas;

async function atZero(pool: Autoscaled): Promise<void> {
  await waitFor(`${pool.runner} back at zero`, 300_000, async () => {
    const pods = await kube.list('v1', 'Pod', NS, poolLabelSelector(pool.runner));
    return (await replicas(pool)) === 0 && pods.every((pod) => pod.metadata.name.includes('autoscaler')) ? true : undefined;
  });
}

const lastSeq = async () => Math.max(0, ...(await world.emulator.admin.requests()).map((r) => r.seq));
async function callsSince(since: number, pool: Autoscaled): Promise<number> {
  return (await world.emulator.admin.requests(since)).filter((r) => r.principal === pool.principal).length;
}

async function queue(pool: Autoscaled, count: number, script: string): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < count; i++) ids.push(((await world.emulator.admin.queueJob({ pool: pool.pool, name: `${pool.runner}-${i}`, script })) as AdminJob).requestId);
  return ids;
}

async function deploy(poll: number): Promise<Autoscaled> {
  const user = `autoscaler-p${poll}@bench.example`;
  const token = `pat-${randomBytes(20).toString('hex')}`;
  await world.emulator.admin.addPat({ token, user, scopes: ['vso.agentpools_manage', 'vso.extension.data_write'] });
  const pool = { poll, pool: `Autoscale p${poll}`, runner: `p${poll}`, principal: `pat:${user}` };
  if (poll !== 5) await world.emulator.admin.createPool(pool.pool);
  const deployed = await deployPool(world, {
    namespace: NS, poolName: pool.pool, runnerName: pool.runner, personalAccessToken: token, autoscaling: 'inCluster',
    minReplicas: '0', maxReplicas: '20', standby: '0', ...(poll !== 5 && { pollSeconds: String(poll) }),
  });
  if (deployed.result !== 'Succeeded') throw new Error(`deploy failed: ${deployed.message}`);
  // The autoscaler starts slot 0 once so that the pool has a registration, then returns it to zero.
  await world.emulator.admin.waitFor(() => world.emulator.admin.agents(pool.pool), (agents) => agents.length > 0, 120_000, `${pool.runner}-0 registered`);
  return pool;
}

async function busy(pool: Autoscaled): Promise<void> {
  const ids = await queue(pool, 20, 'sleep 600');
  const started = Date.now();
  await world.emulator.admin.waitFor(() => world.emulator.admin.agents(pool.pool), (agents) => agents.filter((a) => a.status === 'online').length >= 20, 300_000, '20 agents online');
  console.log(`${figure('autoscale-burst-20-from-zero-s', pool)}: ${((Date.now() - started) / 1000).toFixed(1)}`);
  const since = await lastSeq();
  await sleep(60_000);
  console.log(`${figure('autoscale-ado-calls-per-minute-busy', pool)}: ${await callsSince(since, pool)}`);
  for (const id of ids) await world.emulator.admin.cancelJob(id);
  await atZero(pool);
}

async function firstJob(pool: Autoscaled): Promise<void> {
  const waits: number[] = [];
  for (let i = 0; i < firstJobSamples; i++) {
    const [id] = await queue(pool, 1, 'true');
    const job = await world.emulator.admin.waitFor(() => world.emulator.admin.job(id), (j) => j.receiveTime !== undefined, 120_000, 'the job received');
    waits.push((Date.parse(job.receiveTime!) - Date.parse(job.queueTime)) / 1000);
    await world.emulator.admin.waitForJob(id, 60_000);
    await atZero(pool);
  }
  console.log(`${figure('autoscale-first-job-wait-s', pool)}: ${median(waits).toFixed(1)} (${waits.map((w) => w.toFixed(1)).join(' ')})`);
}

async function main(): Promise<void> {
  world = await startPoolWorld('Autoscale p5', 'autoscale-bench');
  // The autoscalers reach the API server as the kubernetes Service: on the local cluster, its second API server.
  await legacyApiServer();
  await createNamespace(NS);
  kube = new HttpKubeClient(loadKubeConfig(world.cluster.kubeconfig));
  try {
    const pools: Autoscaled[] = [];
    for (const poll of polls) pools.push(await deploy(poll));
    for (const pool of pools) await atZero(pool);
    // Idle at zero, all three at once (an idle autoscaler costs the machine nothing).
    const since = await lastSeq();
    await sleep(60_000);
    for (const pool of pools) console.log(`${figure('autoscale-ado-calls-per-minute-idle', pool)}: ${await callsSince(since, pool)}`);
    for (const pool of pools) {
      await firstJob(pool);
      await busy(pool);
    }
  } finally {
    await deleteNamespace(NS);
    await world.stop();
  }
}

await main();
