// Benchmark (issue 15): our in-cluster autoscaler against KEDA 2.21's azure-pipelines scaler (a ScaledJob, at its
// documented defaults and at the shortest polling interval its CRD accepts), on the same cluster, runner image and
// emulator, each on its own pool, in one run: a burst of 20 jobs queued at zero, a seeded stream of 60 jobs over about
// 5 minutes (each 2-20 s), then 5 idle minutes. Prints `vs-keda-<workload>-<figure>-<contender>` and `-ratio` lines
// (ours over KEDA's; `-1s` for KEDA polling every second). Where the time goes: each job's wait split into poll
// (queued → its pod created), scheduling, start (→ agent container running) and registration (→ job received).
// VS_KEDA_STREAM_JOBS, VS_KEDA_STREAM_SECONDS and VS_KEDA_IDLE_SECONDS shorten a trial run.
import { generateKeyPairSync } from 'node:crypto';
import { cpus, loadavg, totalmem } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { legacyApiServer, kubectl, kubectlJson } from '../tests/support/cluster.js';
import type { AdminJob, ServedRequest } from '../tests/support/emulator.js';
import { createNamespace, deleteNamespace, deployPool, startPoolWorld, type PoolWorld } from '../tests/support/runner-pool.js';
import { publicKeyOf } from '../emulator/agent/settings.js';
import { HttpKubeClient, loadKubeConfig } from '../src/clients/kube-http.js';
import { poolLabelSelector } from '../src/core/manifests/pool-labels.js';
import type { KubeClient, KubeObject } from '../src/core/ports/kube.js';
import { buildKeda, installCrds, kedaVersion, removeCrds, scaledJob, startKeda, type RunningKeda } from './keda/operator.js';
import { mean, percentile } from '../src/core/statistics.js';

const SEED = 15;
const BURST_JOBS = 20;
const BURST_JOB_SECONDS = 10;
const STREAM_JOBS = Number(process.env.VS_KEDA_STREAM_JOBS ?? 60);
const STREAM_SECONDS = Number(process.env.VS_KEDA_STREAM_SECONDS ?? 300);
const IDLE_SECONDS = Number(process.env.VS_KEDA_IDLE_SECONDS ?? 300);
const MAX_AGENTS = 20;
const OPERATOR_NAMESPACE = 'adr-vs-keda-operator';

type ContenderKey = 'ours' | 'keda' | 'keda-1s';
type Workload = 'burst' | 'stream' | 'idle';

// --- the pods of a contender, as the cluster shows them ------------------------------------------------------------

interface PodRecord {
  name: string;
  /** When the watch first saw the pod, when it was scheduled, when its agent container ran, when it ended (ms). */
  seen: number;
  scheduled?: number;
  running?: number;
  ended?: number;
}

/** Follows a namespace's runner pods with a watch and notes when each one reaches each stage of its life. */
class PodTracker {
  private readonly records = new Map<string, PodRecord>();
  private readonly stopping = new AbortController();
  private readonly following: Promise<void>;

  constructor(kube: KubeClient, namespace: string, selector: string) {
    this.following = (async () => {
      while (!this.stopping.signal.aborted) {
        await kube.watch('v1', 'Pod', namespace, selector, (pods) => this.note(pods), this.stopping.signal).catch(() => sleep(1000));
      }
    })();
  }

  private note(pods: KubeObject[]): void {
    const now = Date.now();
    const present = new Set<string>();
    for (const pod of pods) {
      const uid = pod.metadata.uid!;
      present.add(uid);
      const status = (pod.status ?? {}) as { phase?: string; conditions?: Array<{ type: string; status: string }>; containerStatuses?: Array<{ name: string; state?: { running?: object } }> };
      const record = this.records.get(uid) ?? { name: pod.metadata.name, seen: now };
      this.records.set(uid, record);
      if (record.scheduled === undefined && status.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'True')) record.scheduled = now;
      if (record.running === undefined && status.containerStatuses?.some((c) => c.name === 'agent' && c.state?.running)) record.running = now;
      if (record.ended === undefined && (status.phase === 'Succeeded' || status.phase === 'Failed')) record.ended = now;
    }
    for (const [uid, record] of this.records) if (!present.has(uid) && record.ended === undefined) record.ended = now;
  }

  all(): PodRecord[] {
    return [...this.records.values()];
  }

  alive(): number {
    return this.all().filter((record) => record.ended === undefined).length;
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.following;
  }
}

// --- the jobs, as the emulator shows them --------------------------------------------------------------------------

/** Polls the emulator's jobs; remembers which agent took each (KEDA's pods delete their agent when they end). */
class JobWatcher {
  private readonly jobs = new Map<number, AdminJob>();
  private readonly agentNames = new Map<number, string>();
  private running = true;
  private readonly polling: Promise<void>;

  constructor(private readonly world: PoolWorld) {
    this.polling = (async () => {
      while (this.running) {
        await this.refresh();
        await sleep(500);
      }
    })();
  }

  async refresh(): Promise<void> {
    for (const job of await this.world.emulator.admin.jobs()) {
      this.jobs.set(job.requestId, job);
      if (job.agentName && !this.agentNames.has(job.requestId)) this.agentNames.set(job.requestId, job.agentName);
    }
  }

  of(poolId: number): AdminJob[] {
    return [...this.jobs.values()].filter((job) => job.poolId === poolId);
  }

  agentName(requestId: number): string | undefined {
    return this.agentNames.get(requestId);
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.polling;
  }
}

// --- contenders ----------------------------------------------------------------------------------------------------

interface Contender {
  key: ContenderKey;
  pool: { name: string; id: number };
  namespace: string;
  /** The user of the contender's PAT: its Azure DevOps calls are logged as pat:<user>. */
  user: string;
  pods: PodTracker;
  /** No runner pod alive (and, for ours, the StatefulSet at zero). */
  atZero(): Promise<boolean>;
}

async function addPat(world: PoolWorld, key: ContenderKey, scopes: string[]): Promise<{ token: string; user: string }> {
  const pat = { token: `pat-vs-keda-${key}-${Date.now()}`, user: `${key}@vs-keda.example` };
  await world.emulator.admin.addPat({ ...pat, scopes });
  return pat;
}

async function poolId(world: PoolWorld, name: string, token: string): Promise<number> {
  const response = await fetch(`${world.emulator.orgUrl}/_apis/distributedtask/pools?poolName=${encodeURIComponent(name)}`, { headers: basic(token) });
  return ((await response.json()) as { value: Array<{ id: number }> }).value[0].id;
}

const basic = (token: string) => ({ authorization: `Basic ${Buffer.from(`:${token}`).toString('base64')}` });

async function setUpOurs(world: PoolWorld, kube: KubeClient): Promise<Contender> {
  const name = 'vs-keda-ours';
  const namespace = 'adr-vs-keda-ours';
  await world.emulator.admin.createPool(name);
  const pat = await addPat(world, 'ours', ['vso.agentpools_manage', 'vso.extension.data_write']);
  await createNamespace(namespace);
  const pods = new PodTracker(kube, namespace, poolLabelSelector('ours'));
  // Our defaults (poll every 5 s, no standby, down to zero) with room for the burst.
  const deployed = await deployPool(world, {
    namespace, poolName: name, runnerName: 'ours', autoscaling: 'inCluster', maxReplicas: String(MAX_AGENTS), personalAccessToken: pat.token,
    rolloutStatusTimeout: '180',
  });
  if (deployed.result !== 'Succeeded') throw new Error(`DeployRunnerPool failed: ${deployed.message}`);
  const replicas = async () => ((await kube.get({ apiVersion: 'apps/v1', kind: 'StatefulSet', namespace, name: 'ours' }))?.spec as { replicas?: number }).replicas;
  return { key: 'ours', pool: { name, id: await poolId(world, name, pat.token) }, namespace, user: pat.user, pods, atZero: async () => pods.alive() === 0 && (await replicas()) === 0 };
}

async function setUpKeda(world: PoolWorld, kube: KubeClient, key: 'keda' | 'keda-1s', pollingInterval?: number): Promise<Contender> {
  const name = `vs-keda-${key}`;
  const namespace = `adr-vs-keda-${key}`;
  await world.emulator.admin.createPool(name);
  const pat = await addPat(world, key, ['vso.agentpools_manage']);
  const id = await poolId(world, name, pat.token);
  // The placeholder agent KEDA's docs ask for: an empty pool rejects every job, and KEDA's pods come and go.
  const placeholder = await fetch(`${world.emulator.orgUrl}/_apis/distributedtask/pools/${id}/agents?api-version=7.1`, {
    method: 'POST', headers: { ...basic(pat.token), 'content-type': 'application/json' },
    body: JSON.stringify({ name: `${key}-placeholder`, authorization: { publicKey: publicKeyOf(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey) } }),
  });
  if (!placeholder.ok) throw new Error(`placeholder agent: HTTP ${placeholder.status}`);
  await createNamespace(namespace);
  const pods = new PodTracker(kube, namespace, 'scaledjob.keda.sh/name=runner');
  const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'azp', namespace }, stringData: { token: pat.token } };
  const job = scaledJob({
    namespace, name: 'runner', image: world.image, organizationUrl: world.emulator.orgUrl, poolName: name, secretName: 'azp',
    maxReplicaCount: MAX_AGENTS, pollingInterval,
  });
  await kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [secret, job] }) });
  const ready = async () => {
    const found = await kubectlJson<{ status?: { conditions?: Array<{ type: string; status: string }> } }>(['get', 'scaledjob', 'runner', '-n', namespace]);
    return found.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
  };
  await until(`the ScaledJob in ${namespace} ready`, 120_000, ready);
  return { key, pool: { name, id }, namespace, user: pat.user, pods, atZero: async () => pods.alive() === 0 };
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return true;
    if (Date.now() > deadline) {
      console.error(`# timed out after ${timeoutMs / 1000} s waiting for ${what}`);
      return false;
    }
    await sleep(500);
  }
}

// --- workloads -----------------------------------------------------------------------------------------------------

interface Window {
  from: number;
  to: number;
  jobIds: number[];
}

/** A PRNG with a seed (mulberry32): every contender gets the same stream. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Arrivals spread at random over the span (a Poisson stream of that many jobs), each job 2-20 s long. */
function streamSchedule(): Array<{ atMs: number; seconds: number }> {
  const next = random(SEED);
  return Array.from({ length: STREAM_JOBS }, () => ({ atMs: Math.round(next() * STREAM_SECONDS * 1000), seconds: 2 + Math.floor(next() * 19) }))
    .sort((a, b) => a.atMs - b.atMs);
}

async function queue(world: PoolWorld, contender: Contender, name: string, seconds: number): Promise<number> {
  const job = await world.emulator.admin.queueJob({ pool: contender.pool.name, name, script: `sleep ${seconds}` });
  if ('rejected' in job) throw new Error(`${contender.pool.name} rejected a job: ${job.rejected}`);
  return job.requestId;
}

/** Waits for the jobs to end and the contender to be back at zero pods; the window closes then. */
async function drain(world: PoolWorld, contender: Contender, jobs: JobWatcher, ids: number[], timeoutMs: number): Promise<number> {
  const done = async () => {
    await jobs.refresh();
    const ended = new Set(jobs.of(contender.pool.id).filter((job) => job.state === 'finished').map((job) => job.requestId));
    return ids.every((id) => ended.has(id));
  };
  if (!(await until(`${contender.key}'s jobs to finish`, timeoutMs, done))) {
    for (const id of ids) await world.emulator.admin.cancelJob(id).catch(() => undefined);
  }
  await until(`${contender.key} back at zero`, 240_000, () => contender.atZero());
  return Date.now();
}

async function burst(world: PoolWorld, contender: Contender, jobs: JobWatcher): Promise<Window> {
  await until(`${contender.key} at zero`, 240_000, () => contender.atZero());
  const from = Date.now();
  const ids: number[] = [];
  for (let i = 0; i < BURST_JOBS; i++) ids.push(await queue(world, contender, `burst-${i}`, BURST_JOB_SECONDS));
  return { from, jobIds: ids, to: await drain(world, contender, jobs, ids, 10 * 60_000) };
}

async function stream(world: PoolWorld, contender: Contender, jobs: JobWatcher): Promise<Window> {
  await until(`${contender.key} at zero`, 240_000, () => contender.atZero());
  const from = Date.now();
  const ids: number[] = [];
  for (const [i, { atMs, seconds }] of streamSchedule().entries()) {
    await sleep(Math.max(0, from + atMs - Date.now()));
    ids.push(await queue(world, contender, `stream-${i}`, seconds));
  }
  return { from, jobIds: ids, to: await drain(world, contender, jobs, ids, 10 * 60_000) };
}

// --- figures -------------------------------------------------------------------------------------------------------

type Figures = Map<string, number>;

const ms = (iso: string | undefined) => (iso === undefined ? undefined : Date.parse(iso));
const overlap = (from: number, to: number, start: number, end: number) => Math.max(0, Math.min(to, end) - Math.max(from, start));

/**
 * What the user pays for and gets nothing from: the time pods held a node in the window minus the time their jobs ran.
 * A pod counts from its scheduling, not its creation: one still held by a scheduling gate (our autoscaled slots that no
 * job wants) has no node, starts nothing and is nothing a node autoscaler keeps a node for.
 */
function idlePodSeconds(contender: Contender, poolJobs: AdminJob[], window: Window): number {
  const podMs = contender.pods.all().reduce((sum, pod) => sum + (pod.scheduled === undefined ? 0 : overlap(window.from, window.to, pod.scheduled, pod.ended ?? window.to)), 0);
  const busyMs = poolJobs.reduce((sum, job) => sum + (job.receiveTime ? overlap(window.from, window.to, ms(job.receiveTime)!, ms(job.finishTime) ?? window.to) : 0), 0);
  return Math.max(0, podMs - busyMs) / 1000;
}

/** Calls and body bytes the contender's PAT made Azure DevOps serve in the window, per minute (from the request log). */
function adoPerMinute(log: ServedRequest[], contender: Contender, windows: Window[]): { calls: number; kib: number } {
  const minutes = windows.reduce((sum, w) => sum + (w.to - w.from), 0) / 60_000;
  const served = log.filter((entry) => entry.principal === `pat:${contender.user}`
    && windows.some((w) => Date.parse(entry.time) >= w.from && Date.parse(entry.time) <= w.to));
  return { calls: served.length / minutes, kib: served.reduce((sum, entry) => sum + entry.bytes, 0) / 1024 / minutes };
}

/** Where a contender's bytes went in the windows: the five routes that served the most, ids and values folded. */
function bytesByRoute(log: ServedRequest[], contender: Contender, windows: Window[]): string {
  const routes = new Map<string, { calls: number; bytes: number }>();
  let total = 0;
  for (const entry of log) {
    if (entry.principal !== `pat:${contender.user}` || !windows.some((w) => Date.parse(entry.time) >= w.from && Date.parse(entry.time) <= w.to)) continue;
    const flags = ['includeCapabilities', 'agentName'].filter((key) => key in entry.query).map((key) => `${key}=${key === 'agentName' ? '…' : entry.query[key]}`);
    const route = `${entry.method} ${entry.path.replace(/^.*?\/_apis\//, '').replace(/\/\d+(?=\/|$)/g, '/{id}')}${flags.length > 0 ? `?${flags.join('&')}` : ''}`;
    const tally = routes.get(route) ?? { calls: 0, bytes: 0 };
    tally.calls++;
    tally.bytes += entry.bytes;
    total += entry.bytes;
    routes.set(route, tally);
  }
  return [...routes].sort(([, a], [, b]) => b.bytes - a.bytes).slice(0, 5)
    .map(([route, { calls, bytes }]) => `${route} ${calls}× ${(bytes / 1024).toFixed(0)} KiB (${((100 * bytes) / Math.max(1, total)).toFixed(0)} %)`).join('; ');
}

/**
 * A job's wait in stages, from the pod that ran it: poll (queued → pod created), scheduling (→ scheduled), start
 * (→ agent container running), registration (→ job received: the agent's registration, session and first poll).
 * A stage the pod went through before the job was queued counts zero.
 */
function waitStages(contender: Contender, job: AdminJob, agentName: string | undefined): number[] | undefined {
  const queued = ms(job.queueTime)!;
  const received = ms(job.receiveTime);
  if (received === undefined || agentName === undefined) return undefined;
  const pod = contender.pods.all().filter((p) => p.name === agentName && p.seen <= received && (p.ended ?? Infinity) >= received)
    .sort((a, b) => b.seen - a.seen)[0];
  if (!pod) return undefined;
  const marks = [queued, pod.seen, pod.scheduled ?? pod.seen, pod.running ?? pod.scheduled ?? pod.seen, received];
  const clipped = marks.map((t) => Math.min(received, Math.max(queued, t)));
  for (let i = 1; i < clipped.length; i++) clipped[i] = Math.max(clipped[i], clipped[i - 1]);
  return clipped.slice(1).map((t, i) => (t - clipped[i]) / 1000);
}

function jobFigures(log: ServedRequest[], contender: Contender, jobs: JobWatcher, window: Window): Figures {
  const poolJobs = jobs.of(contender.pool.id);
  const ours = poolJobs.filter((job) => window.jobIds.includes(job.requestId));
  const waits = ours.filter((job) => job.receiveTime).map((job) => (ms(job.receiveTime)! - ms(job.queueTime)!) / 1000);
  const stages = ours.map((job) => waitStages(contender, job, jobs.agentName(job.requestId))).filter((s): s is number[] => s !== undefined);
  const ado = adoPerMinute(log, contender, [window]);
  return new Map([
    ['wait-p50-s', percentile(waits, 0.5)],
    ['wait-p95-s', percentile(waits, 0.95)],
    ['wait-max-s', Math.max(...waits)],
    ['wait-mean-s', mean(waits)],
    ...['poll', 'scheduling', 'start', 'registration'].map((stage, i): [string, number] => [`wait-${stage}-mean-s`, mean(stages.map((s) => s[i]))]),
    ['pod-seconds', idlePodSeconds(contender, poolJobs, window)],
    ['ado-calls-per-minute', ado.calls],
    ['ado-kib-per-minute', ado.kib],
    ['jobs-failed-or-killed', ours.filter((job) => job.result !== 'succeeded').length],
  ]);
}

/** The burst's milestones: the n-th pod created, scheduled, running, agent online (a session) and job started. */
function burstFigures(log: ServedRequest[], contender: Contender, jobs: JobWatcher, window: Window): Figures {
  const nth = (times: Array<number | undefined>) => {
    const sorted = times.filter((t): t is number => t !== undefined && t >= window.from).sort((a, b) => a - b);
    return sorted.length >= BURST_JOBS ? (sorted[BURST_JOBS - 1] - window.from) / 1000 : Number.NaN;
  };
  const pods = contender.pods.all().filter((pod) => pod.seen >= window.from && pod.seen <= window.to);
  // The service answers a new session with 201 Created (agent-wire-protocol.md).
  const sessions = log.filter((entry) => entry.method === 'POST' && entry.status === 201
    && new RegExp(`/pools/${contender.pool.id}/sessions$`, 'i').test(entry.path)).map((entry) => Date.parse(entry.time));
  const started = jobs.of(contender.pool.id).filter((job) => window.jobIds.includes(job.requestId)).map((job) => ms(job.receiveTime));
  const first = Math.min(...pods.map((pod) => pod.seen));
  return new Map([
    ['online-s', nth(sessions)],
    ['started-s', nth(started)],
    ['first-pod-s', Number.isFinite(first) ? (first - window.from) / 1000 : Number.NaN],
    ['pods-created-s', nth(pods.map((pod) => pod.seen))],
    ['pods-scheduled-s', nth(pods.map((pod) => pod.scheduled))],
    ['containers-running-s', nth(pods.map((pod) => pod.running))],
    ...jobFigures(log, contender, jobs, window),
  ]);
}

function idleFigures(log: ServedRequest[], contender: Contender, jobs: JobWatcher, window: Window): Figures {
  const ado = adoPerMinute(log, contender, [window]);
  return new Map([
    ['pod-seconds', idlePodSeconds(contender, jobs.of(contender.pool.id), window)],
    ['ado-calls-per-minute', ado.calls],
    ['ado-kib-per-minute', ado.kib],
  ]);
}

function format(figure: string, value: number): string {
  if (Number.isNaN(value)) return 'n/a';
  return value.toFixed(figure.startsWith('jobs-') || figure === 'pod-seconds' ? 0 : 1);
}

/** Ours over KEDA's; n/a when both are zero (a tie), inf when only KEDA's is. */
function ratio(ours: number, keda: number): string {
  if (Number.isNaN(ours) || Number.isNaN(keda)) return 'n/a';
  if (keda === 0) return ours === 0 ? 'n/a' : 'inf';
  return (ours / keda).toFixed(2);
}

function printFigures(prefix: string, byContender: Map<ContenderKey, Figures>): void {
  const ours = byContender.get('ours')!;
  for (const figure of ours.keys()) {
    const value = (key: ContenderKey) => byContender.get(key)?.get(figure) ?? Number.NaN;
    const name = `${prefix}${figure}`;
    console.log(`${name}-ours: ${format(figure, value('ours'))}`);
    console.log(`${name}-keda: ${format(figure, value('keda'))}`);
    console.log(`${name}-keda-1s: ${format(figure, value('keda-1s'))}`);
    console.log(`${name}-ratio: ${ratio(value('ours'), value('keda'))}`);
    console.log(`${name}-ratio-1s: ${ratio(value('ours'), value('keda-1s'))}`);
  }
}

// --- the run -------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  console.log(`# machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  const keda = await buildKeda();
  console.log(`# KEDA ${kedaVersion} operator built from its Go module in ${keda.buildSeconds.replace(' ', ' s on ')}`);
  // Pods reach the API server as the kubernetes Service (10.96.0.1): the local cluster's second, RBAC-enforcing one.
  await legacyApiServer();
  const world = await startPoolWorld('vs-keda-image', 'vs-keda');
  const kube = new HttpKubeClient(loadKubeConfig(world.cluster.kubeconfig));
  const jobs = new JobWatcher(world);
  const contenders: Contender[] = [];
  let operator: RunningKeda | undefined;
  const namespaces = [OPERATOR_NAMESPACE, 'adr-vs-keda-ours', 'adr-vs-keda-keda', 'adr-vs-keda-keda-1s'];
  try {
    await installCrds(keda);
    await createNamespace(OPERATOR_NAMESPACE);
    operator = await startKeda(keda, world.cluster.kubeconfig, OPERATOR_NAMESPACE);
    console.log(`# KEDA's operator log: ${operator.logPath}`);
    contenders.push(await setUpOurs(world, kube));
    contenders.push(await setUpKeda(world, kube, 'keda'));
    // The CRD's minimum (pollingInterval: minimum 1); its docs name no other bound.
    contenders.push(await setUpKeda(world, kube, 'keda-1s', 1));

    const windows = new Map<Workload, Map<ContenderKey, Window>>([['burst', new Map()], ['stream', new Map()], ['idle', new Map()]]);
    // Workload by workload, the contenders one after the other, so that the machine's other load spreads over all.
    for (const contender of contenders) windows.get('burst')!.set(contender.key, await burst(world, contender, jobs));
    for (const contender of contenders) windows.get('stream')!.set(contender.key, await stream(world, contender, jobs));
    // Idle: nothing runs, so the three idle side by side, in the same 5 minutes.
    for (const contender of contenders) await until(`${contender.key} at zero`, 240_000, () => contender.atZero());
    const idleFrom = Date.now();
    await sleep(IDLE_SECONDS * 1000);
    for (const contender of contenders) windows.get('idle')!.set(contender.key, { from: idleFrom, to: Date.now(), jobIds: [] });
    await jobs.refresh();
    const log = await world.emulator.admin.requests();

    const compute = (workload: Workload, figures: (log: ServedRequest[], c: Contender, jobs: JobWatcher, w: Window) => Figures) =>
      new Map(contenders.map((c) => [c.key, figures(log, c, jobs, windows.get(workload)!.get(c.key)!)]));
    printFigures('vs-keda-burst-', compute('burst', burstFigures));
    printFigures('vs-keda-stream-', compute('stream', jobFigures));
    printFigures('vs-keda-idle-', compute('idle', idleFigures));
    const overall = new Map(contenders.map((c) => {
      const ado = adoPerMinute(log, c, [...windows.values()].map((byContender) => byContender.get(c.key)!));
      return [c.key, new Map([['ado-calls-per-minute', ado.calls], ['ado-kib-per-minute', ado.kib]])];
    }));
    printFigures('vs-keda-', overall);
    for (const workload of windows.keys()) {
      for (const c of contenders) console.log(`# where the bytes go, ${workload}, ${c.key}: ${bytesByRoute(log, c, [windows.get(workload)!.get(c.key)!])}`);
    }
    const failedOurs = [...windows.keys()].flatMap((w) => [...windows.get(w)!.get('ours')!.jobIds])
      .filter((id) => jobs.of(contenders[0].pool.id).find((job) => job.requestId === id)?.result !== 'succeeded');
    if (failedOurs.length > 0) {
      console.error(`# ours failed or lost ${failedOurs.length} job(s): ${failedOurs.join(', ')}`);
      process.exitCode = 1;
    }
  } finally {
    await jobs.stop();
    for (const contender of contenders) await contender.pods.stop();
    // The operator first removes its finalizers from the ScaledJobs: their namespaces go before it stops.
    for (const namespace of namespaces) await deleteNamespace(namespace).catch((error: unknown) => console.error(`# ${(error as Error).message}`));
    await operator?.stop();
    await removeCrds(keda).catch((error: unknown) => console.error(`# ${(error as Error).message}`));
    await world.stop();
  }
}

await main();
