// Benchmark: from scale-up to a running job, pod by pod, for N = 1, 5 and 20 slots scaled from zero with N jobs queued,
// side by side on one cluster and image: our classic slot (autoscaling none: a register init container, then the
// agent), our autoscaled slot (the in-cluster autoscaler registers the agent: no PAT in the pod) and a bare Kubernetes
// Job pod in the image's `all` mode (what a KEDA ScaledJob runs: the PAT in its environment, register and run in one
// container). Every step is timed from the scale-up (for the autoscaled slot: the autoscaler's, whose decision after
// the queueing is printed apart, as pod-start-decision-s): pods and containers as a watch sees them, registration and
// session from the emulator's request log, the job's receiveTime, and the steps inside the containers from their logs.
// POD_START_COUNTS=1,5 runs fewer sizes.
import { BatchV1Api, type V1Job } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { kubectl, legacyApiServer, waitFor } from '../tests/support/cluster.js';
import { createNamespace, deleteNamespace, deployPool, startPoolWorld, type PoolWorld } from '../tests/support/runner-pool.js';
import { followPods, logTimes, podCpuSeconds, type PodFollower, type PodTimeline } from '../tests/support/pod-timeline.js';
import type { AdminJob } from '../tests/support/emulator.js';
import { agentJobPodSpec } from '../tests/support/agent-job-pod.js';
import { HttpKubeClient, loadKubeConfig } from '../src/clients/kube-http.js';
import { poolLabelSelector } from '../src/core/manifests/pool-labels.js';
import { median } from '../src/core/statistics.js';

const NS = 'adr-pod-start-bench';
const counts = (process.env.POD_START_COUNTS ?? '1,5,20').split(',').map(Number);
const variants = ['classic', 'autoscaled', 'job'] as const;
type Variant = (typeof variants)[number];
const pools: Record<Variant, string> = { classic: 'PodStart classic', autoscaled: 'PodStart autoscaled', job: 'PodStart job' };
const runners = { classic: 'classic', autoscaled: 'auto' };
const jobLabel = 'podstart-job';

/** The steps of each variant's start, in order; each is a time in the timeline (pods, emulator, or container logs). */
const steps: Record<Variant, string[]> = {
  classic: ['created', 'sandbox', 'register-started', 'config-begin', 'registered', 'register-finished', 'agent-started', 'run-begin', 'online', 'first-job'],
  autoscaled: ['created', 'sandbox', 'agent-started', 'handshake-serving', 'registered', 'granted', 'run-begin', 'online', 'first-job'],
  job: ['created', 'sandbox', 'agent-started', 'config-begin', 'registered', 'run-begin', 'online', 'first-job'],
};
/** What each step means, for the table. */
const stepNames: Record<string, string> = {
  created: 'pod created',
  sandbox: 'sandbox ready (PodReadyToStartContainers)',
  'register-started': 'register container started',
  'config-begin': 'config.sh begins (start.sh checks, clean_slate done)',
  registered: 'registration PUT/POST at the emulator',
  'register-finished': 'register container finished',
  'agent-started': 'agent container started',
  'handshake-serving': 'handshake serves its request (Node up, key made)',
  granted: 'grant taken, agent settings written',
  'run-begin': 'run.sh begins',
  online: 'agent online (session created)',
  'first-job': 'first job received',
};
/** The figures the issue names, from the scale-up. */
const figures = ['created', 'sandbox', 'register-started', 'register-finished', 'agent-started', 'registered', 'online', 'first-job'];
const logPatterns: Record<string, Record<string, RegExp>> = {
  register: { 'config-begin': /^start\.sh: registering agent/ },
  agent: { 'config-begin': /^start\.sh: registering agent/, 'handshake-serving': /^runner handshake: waiting for the autoscaler/, granted: /^runner handshake: registered by the autoscaler/, 'run-begin': /^start\.sh: running agent/ },
};

const fixed = (value: number | undefined) => (value === undefined || Number.isNaN(value) ? '-' : value.toFixed(1));

interface Run {
  variant: Variant;
  count: number;
  /** Seconds from the scale-up, by step, one record per pod. */
  pods: Array<Record<string, number>>;
  /** CPU seconds each pod used until every job was received. */
  cpu: number[];
  /** CPU seconds the autoscaler used meanwhile. */
  autoscalerCpu?: number;
  /** Seconds from the queueing to the autoscaler's scale-up. */
  decision?: number;
}

let world: PoolWorld;
let follower: PodFollower;
let kube: HttpKubeClient;
let batch: BatchV1Api;

const statefulSet = (variant: 'classic' | 'autoscaled') => ({ apiVersion: 'apps/v1', kind: 'StatefulSet', namespace: NS, name: runners[variant] });
const replicas = async (variant: 'classic' | 'autoscaled') => ((await kube.get(statefulSet(variant)))?.spec as { replicas: number }).replicas;
const selector = (variant: Variant) => (variant === 'job' ? `app=${jobLabel}` : poolLabelSelector(runners[variant]));
const ofVariant = (variant: Variant, timeline: PodTimeline) =>
  variant === 'job' ? timeline.labels.app === jobLabel : timeline.labels['app.kubernetes.io/instance'] === runners[variant] && timeline.name.startsWith(`${runners[variant]}-`) && !timeline.name.includes('autoscaler');

/** A Job of one pod, as a KEDA ScaledJob's template would make it: the image's `all` mode, the PAT from a Secret. */
function jobPod(name: string): V1Job {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: NS, labels: { app: jobLabel } },
    spec: {
      backoffLimit: 0,
      template: {
        metadata: { labels: { app: jobLabel } },
        spec: agentJobPodSpec({
          image: world.image, organizationUrl: world.emulator.orgUrl, poolName: pools.job, secretName: 'podstart-pat',
          env: [{ name: 'AZP_AGENT_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
        }),
      },
    },
  };
}

async function noPods(variant: Variant): Promise<void> {
  await waitFor(`no ${variant} pods`, 240_000, async () => ((await kube.list('v1', 'Pod', NS, selector(variant))).length === 0 ? true : undefined));
}

/** Scales the variant up to `count` (for the autoscaled slot: queues and waits for the autoscaler); the scale-up's time. */
async function scaleUp(variant: Variant, count: number, queued: number): Promise<{ at: number; decision?: number }> {
  switch (variant) {
    case 'classic': {
      const at = Date.now();
      await kube.scale(statefulSet(variant), count, 'pod-start-bench');
      return { at };
    }
    case 'autoscaled': {
      // Looked at often: the scale-up's time is where every other step of this slot is counted from.
      while ((await replicas(variant)) === 0) {
        if (Date.now() - queued > 60_000) throw new Error('the autoscaler did not scale up within a minute');
        await sleep(25);
      }
      const at = Date.now();
      return { at, decision: (at - queued) / 1000 };
    }
    case 'job': {
      const at = Date.now();
      await Promise.all(Array.from({ length: count }, (_, i) => batch.createNamespacedJob({ namespace: NS, body: jobPod(`${jobLabel}-${count}-${i}`) })));
      return { at };
    }
  }
}

async function scaleDown(variant: Variant, ids: number[]): Promise<void> {
  if (variant === 'classic') await kube.scale(statefulSet(variant), 0, 'pod-start-bench');
  if (variant === 'job') await batch.deleteCollectionNamespacedJob({ namespace: NS, labelSelector: `app=${jobLabel}`, propagationPolicy: 'Background' });
  for (const id of ids) await world.emulator.admin.cancelJob(id);
  // The autoscaler returns the pool to zero by itself once its jobs are gone.
  if (variant === 'autoscaled') await waitFor('the autoscaled pool at zero', 240_000, async () => ((await replicas(variant)) === 0 ? true : undefined));
  await noPods(variant);
}

async function measure(variant: Variant, count: number): Promise<Run> {
  const pool = pools[variant];
  const since = Math.max(0, ...(await world.emulator.admin.requests()).map((r) => r.seq));
  const autoscaler = variant === 'autoscaled' ? (await kube.list('v1', 'Pod', NS, 'app.kubernetes.io/name=azure-devops-runner-autoscaler'))[0] : undefined;
  const autoscalerCpuBefore = autoscaler && podCpuSeconds(autoscaler.metadata.uid!);
  const queued = Date.now();
  const ids: number[] = [];
  for (let i = 0; i < count; i++) ids.push(((await world.emulator.admin.queueJob({ pool, name: `${variant}-${count}-${i}`, script: 'sleep 600' })) as AdminJob).requestId);
  const { at, decision } = await scaleUp(variant, count, queued);
  const jobs = await world.emulator.admin.waitFor(
    () => Promise.all(ids.map((id) => world.emulator.admin.job(id))),
    (all) => all.every((job) => job.receiveTime !== undefined),
    300_000,
    `${count} ${variant} jobs received`,
  );
  // CPU while every job was being taken: the pods' own, and the autoscaler's (it registers the agents).
  const timelines = [...follower.timelines.values()].filter((timeline) => ofVariant(variant, timeline) && timeline.at.created >= at - 1000);
  const cpu = timelines.map((timeline) => podCpuSeconds(timeline.uid)).filter((value) => value !== undefined);
  const autoscalerCpu = autoscaler && podCpuSeconds(autoscaler.metadata.uid!)! - autoscalerCpuBefore!;
  const requests = await world.emulator.admin.requests(since);
  const agents = await world.emulator.admin.agents(pool);
  const poolId = jobs[0].poolId;
  const pods = await Promise.all(timelines.map(async (timeline) => {
    const times: Record<string, number> = { ...timeline.at };
    for (const container of variant === 'classic' ? ['register', 'agent'] : ['agent']) {
      Object.assign(times, await logTimes(world.cluster.kubeconfig, NS, timeline.name, container, logPatterns[container]));
    }
    const agent = agents.find((a) => a.name === timeline.name) as { id: number; createdOn: string } | undefined;
    if (agent !== undefined) {
      const after = (r: { time: string }) => Date.parse(r.time) >= timeline.at.created;
      const put = requests.find((r) => r.method === 'PUT' && r.path.endsWith(`/pools/${poolId}/agents/${agent.id}`) && after(r));
      const createdOn = Date.parse(agent.createdOn);
      const registered = put ? Date.parse(put.time) : createdOn >= timeline.at.created ? createdOn : undefined;
      if (registered !== undefined) times.registered = registered;
      const session = requests.find((r) => r.method === 'POST' && r.path.endsWith(`/pools/${poolId}/sessions`) && r.principal === `agent:${agent.id}` && r.status === 201 && after(r));
      if (session) times.online = Date.parse(session.time);
    }
    const job = jobs.find((j) => j.agentName === timeline.name);
    if (job?.receiveTime) times['first-job'] = Date.parse(job.receiveTime);
    return Object.fromEntries(Object.entries(times).map(([step, time]) => [step, (time - at) / 1000]));
  }));
  await scaleDown(variant, ids);
  return { variant, count, pods, cpu, decision, ...(autoscalerCpu !== undefined && !Number.isNaN(autoscalerCpu) && { autoscalerCpu }) };
}

const valuesOf = (run: Run, step: string) => run.pods.map((pod) => pod[step]).filter((value) => value !== undefined);
const gapsOf = (run: Run, from: string, to: string) => run.pods.filter((pod) => pod[from] !== undefined && pod[to] !== undefined).map((pod) => pod[to] - pod[from]);

function report(runs: Run[]): void {
  for (const run of runs) {
    if (run.decision !== undefined) console.log(`pod-start-decision-s ${run.variant} ${run.count}: ${fixed(run.decision)}`);
    if (run.cpu.length > 0) console.log(`pod-start-cpu-s ${run.variant} ${run.count} median: ${median(run.cpu).toFixed(2)}`);
    if (run.autoscalerCpu !== undefined) console.log(`pod-start-autoscaler-cpu-s ${run.variant} ${run.count}: ${run.autoscalerCpu.toFixed(2)}`);
    for (const step of figures) {
      const values = valuesOf(run, step);
      if (values.length === 0) continue;
      console.log(`pod-start-${step}-s ${run.variant} ${run.count} median: ${fixed(median(values))}`);
      console.log(`pod-start-${step}-s ${run.variant} ${run.count} max: ${fixed(Math.max(...values))}`);
    }
  }
  const find = (variant: Variant, count: number) => runs.find((run) => run.variant === variant && run.count === count)!;
  for (const count of counts) {
    for (const [step, figure] of [['online', 'online'], ['first-job', 'first-job']]) {
      const ours = valuesOf(find('autoscaled', count), step);
      const theirs = valuesOf(find('job', count), step);
      console.log(`pod-start-${figure}-ratio-autoscaled-over-job ${count}: ${(median(ours) / median(theirs)).toFixed(2)}`);
      console.log(`pod-start-${figure}-ratio-autoscaled-over-job ${count} max: ${(Math.max(...ours) / Math.max(...theirs)).toFixed(2)}`);
    }
  }
  // Where the seconds go: the median of each step's gap from the step before it, per variant and size.
  console.log(`\nwhere the seconds go (median s of each step from the one before; N = ${counts.join(' | ')})`);
  for (const variant of variants) {
    console.log(`  ${variant}`);
    steps[variant].forEach((step, i) => {
      const cells = counts.map((count) => fixed(median(i === 0 ? valuesOf(find(variant, count), step) : gapsOf(find(variant, count), steps[variant][i - 1], step))));
      console.log(`    ${(i === 0 ? `scale-up → ${stepNames[step]}` : `→ ${stepNames[step]}`).padEnd(58)} ${cells.map((c) => c.padStart(6)).join('')}`);
    });
    const totals = counts.map((count) => fixed(median(valuesOf(find(variant, count), 'first-job'))));
    console.log(`    ${'= first job received, median from the scale-up'.padEnd(58)} ${totals.map((c) => c.padStart(6)).join('')}`);
    const cpu = counts.map((count) => find(variant, count).cpu).map((values) => (values.length > 0 ? median(values).toFixed(2) : '-'));
    console.log(`    ${'CPU s per pod until the jobs were received (median)'.padEnd(58)} ${cpu.map((c) => c.padStart(6)).join('')}`);
  }
}

async function main(): Promise<void> {
  world = await startPoolWorld(pools.classic, 'pod-start-bench');
  // The autoscaler reaches the API server as the kubernetes Service: on the local cluster, its second API server.
  await legacyApiServer();
  await world.emulator.admin.createPool(pools.autoscaled);
  await world.emulator.admin.createPool(pools.job);
  await createNamespace(NS);
  kube = new HttpKubeClient(loadKubeConfig(world.cluster.kubeconfig));
  batch = loadKubeConfig(world.cluster.kubeconfig).makeApiClient(BatchV1Api);
  follower = followPods(world.cluster.kubeconfig, NS);
  try {
    const classic = await deployPool(world, { namespace: NS, poolName: pools.classic, runnerName: runners.classic, replicas: '1' });
    if (classic.result !== 'Succeeded') throw new Error(`deploy failed: ${classic.message}`);
    const autoscaled = await deployPool(world, {
      namespace: NS, poolName: pools.autoscaled, runnerName: runners.autoscaled, autoscaling: 'inCluster', minReplicas: '0', maxReplicas: '20', standby: '0',
    });
    if (autoscaled.result !== 'Succeeded') throw new Error(`deploy failed: ${autoscaled.message}`);
    await kubectl(['create', 'secret', 'generic', 'podstart-pat', '-n', NS, `--from-literal=token=${world.token}`]);
    // The service takes a pool's jobs once an agent that could run them is registered: each pool's first slot.
    await world.emulator.admin.waitFor(() => world.emulator.admin.agents(pools.classic), (a) => a.some((x) => x.status === 'online'), 120_000, 'classic-0 online');
    await kube.scale(statefulSet('classic'), 0, 'pod-start-bench');
    await world.emulator.admin.waitFor(() => world.emulator.admin.agents(pools.autoscaled), (a) => a.length > 0, 120_000, 'auto-0 registered');
    await registerPlaceholder(pools.job);
    await waitFor('the autoscaled pool back at zero', 120_000, async () => ((await replicas('autoscaled')) === 0 ? true : undefined));
    for (const variant of ['classic', 'autoscaled'] as const) await noPods(variant);

    const runs: Run[] = [];
    for (const count of counts) {
      for (const variant of variants) {
        const run = await measure(variant, count);
        console.log(`# ${variant} ${count}: first job after ${fixed(median(valuesOf(run, 'first-job')))} s (median), ${fixed(Math.max(...valuesOf(run, 'first-job')))} s (max)`);
        runs.push(run);
      }
    }
    report(runs);
  } finally {
    await follower.stop();
    await deleteNamespace(NS);
    await world.stop();
  }
}

/** An offline agent in `pool`, so that the emulator takes the pool's jobs before any Job pod has registered. */
async function registerPlaceholder(pool: string): Promise<void> {
  const headers = { authorization: `Basic ${Buffer.from(`:${world.token}`).toString('base64')}`, 'content-type': 'application/json' };
  const found = (await (await fetch(`${world.emulator.orgUrl}/_apis/distributedtask/pools?poolName=${encodeURIComponent(pool)}`, { headers })).json()) as { value: Array<{ id: number }> };
  const added = await fetch(`${world.emulator.orgUrl}/_apis/distributedtask/pools/${found.value[0].id}/agents?api-version=7.1`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ name: 'placeholder', authorization: { publicKey: { exponent: 'AQAB', modulus: 'A'.repeat(344) } } }),
  });
  if (added.status !== 200) throw new Error(`placeholder agent: HTTP ${added.status}`);
}

await main();
