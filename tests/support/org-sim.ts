// An organization's runners in one process, in simulated time (issue #26): 50 in-cluster autoscalers — the real flow,
// src/flows/autoscale.ts — for 10 agent pools of one Azure DevOps organization, all with one PAT (one identity under
// the service's consumption limit), over the in-memory cluster and the emulator's store with its rate limit on
// (emulator/src/rate-limit.ts: 200 TSTUs a sliding 5 minutes, and a TSTU cost MODEL per call). The scenario: an idle
// hour, a morning burst that fills every slot, and a 429 storm in the middle of it. The component test asserts its
// shape (tests/component/scale-org.test.ts); `npm run bench -- scale-org` prints its figures.
//
// What it models: a runner pod is ready `podStartSeconds` after the StatefulSet creates it and serves its registration
// request; once the autoscaler grants it, its agent is online (a session) and the service hands it a job at once, which
// is "job started". A job runs its minutes, then ends and takes its pod with it. No agent process runs, and the
// handshake's cryptography is tested elsewhere (tests/component/autoscale.test.ts).
//
// Time: every autoscaler sleeps on one SimClock, which moves only when all of them wait — on the clock, or on a call
// the emulator holds back (a throttling delay). Calls over loopback HTTP take no simulated time.
//
// Unlike the other fixtures it reads and changes the emulator's store directly, not through /_admin: sessions, job ends
// and the storm happen at exact simulated instants, inside the clock's and the cluster's synchronous callbacks, and the
// burst's 1 000 jobs arrive at once. An admin call is a call in flight the clock does not wait for: it would land after
// the time moved on, or between the autoscalers' calls, and change the figures. Its setup (the pools) uses /_admin.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { RestAdoClient } from '../../src/clients/ado-rest.js';
import { autoscalerKeyMaker } from '../../src/clients/autoscaler-keys.js';
import { unheldKey } from '../../src/clients/unheld-key.js';
import { InputReader } from '../../src/core/inputs.js';
import { readDeployOptions } from '../../src/core/deploy-options.js';
import { percentile } from '../../src/core/statistics.js';
import { identityVariables } from '../../src/core/manifests/index.js';
import { quietEvents } from './runner-world.js';
import type { RunnerHandshake } from '../../src/core/ports/handshake.js';
import type { KubeObject } from '../../src/core/ports/kube.js';
import { runAutoscaler } from '../../src/flows/autoscale.js';
import { deployRunnerPool } from '../../src/flows/deploy-pool.js';
import { windowMs } from '../../emulator/src/rate-limit.js';
import type { Job } from '../../emulator/src/types.js';
import { publicKeyOf } from '../../emulator/agent/settings.js';
import { DEFAULT_PAT, startEmulator, type TestEmulator } from './emulator.js';
import { FakeClock } from './fake-clock.js';
import { FakeKube } from './fake-kube.js';
import { MemoryFiles } from './memory-files.js';
import { MemoryHost } from './memory-host.js';

export interface OrgScenario {
  pools: number;
  runnersPerPool: number;
  /** Each runner's maxReplicas; the burst fills every slot: pools × runnersPerPool × slotsPerRunner jobs. */
  slotsPerRunner: number;
  pollSeconds: number;
  idleMinutes: number;
  /** The storm starts this long after the burst is queued: every call answered 429 with Retry-After. */
  stormAfterMinutes: number;
  stormMinutes: number;
  stormRetryAfterSeconds: number;
  /** Each job runs between these many minutes (spread evenly over the jobs). */
  jobMinutes: [number, number];
  /** How long after the burst the simulation gives up waiting for the pools to converge. */
  burstLimitMinutes: number;
  podStartSeconds: number;
}

/** Issue #26's organization: 50 runners in 10 pools, 1 000 slots, an idle hour, a burst of 1 000 jobs, a 429 storm. */
export const organization: OrgScenario = {
  pools: 10, runnersPerPool: 5, slotsPerRunner: 20, pollSeconds: 5, idleMinutes: 60,
  stormAfterMinutes: 4, stormMinutes: 3, stormRetryAfterSeconds: 30, jobMinutes: [10, 20], burstLimitMinutes: 90, podStartSeconds: 20,
};

export interface OrgRun {
  scenario: OrgScenario;
  /** When the idle hour began (bootstrap over), the burst was queued, the storm began and ended (simulated ms). */
  phases: { idle: number; burst: number; stormStart: number; stormEnd: number; end: number };
  /** Every call the autoscalers sent (each attempt), with its answer's status. */
  calls: Array<{ at: number; status: number }>;
  /** Every TSTU charge to the organization's identity. */
  charges: Array<{ at: number; tstus: number; call: string }>;
  /** Per burst job: queued, its slot requested (its runner's replicas reached its rank), started (handed to an agent), done. */
  jobs: Array<{ runner: string; queued: number; slotRequested?: number; started?: number; finished?: number; result?: string }>;
  /** Pods stopped while their agent ran a job. */
  cutOff: string[];
  /** Each runner's replica count at the end. */
  finalReplicas: Map<string, number>;
  /** Real seconds the simulation took. */
  wallSeconds: number;
}

/** A FakeClock whose sleeps wait for the simulation to move the time, so that many loops share one timeline. */
class SimClock extends FakeClock {
  override sleep(ms: number): Promise<void> {
    this.slept += ms;
    return new Promise((resolve) => this.at(this.now() + Math.max(0, ms), resolve));
  }
}

/** A runner pod's agent key: one real 2048-bit key serves every simulated pod. */
const podKey = publicKeyOf(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
const runnerOf = (agentOrPod: string) => agentOrPod.replace(/-\d+$/, '');
const poolIndexOf = (runner: string) => Number(/^p(\d+)-/.exec(runner)![1]);

/**
 * The calls in flight over loopback, and those of them the emulator holds on the simulated clock (throttling delays):
 * the time may move once every call in flight is held.
 */
export class CallsInFlight {
  private inflight = 0;
  private held = 0;

  get allHeld(): boolean {
    return this.inflight === this.held;
  }

  /** The emulator holds a call until `wait` ends. */
  async hold(wait: Promise<void>): Promise<void> {
    this.held++;
    try {
      await wait;
    } finally {
      this.held--;
    }
  }

  /**
   * A fetch that counts its calls, and tells `answered` each answer's status. The client's timeout runs in real time:
   * a call it gives up on stays in flight until its answer comes, for the emulator may hold it on the simulated clock
   * (counted among the held ones), and the time must move on for it to end.
   */
  fetch(answered: (status: number) => void): typeof fetch {
    return async (input, init) => {
      const { signal, ...rest } = init ?? {};
      this.inflight++;
      const answer = (async () => {
        try {
          const response = await fetch(input, rest);
          return { response, body: await response.arrayBuffer() };
        } finally {
          this.inflight--;
        }
      })();
      const givenUp = new Promise<never>((_, reject) => {
        if (signal?.aborted) reject(signal.reason);
        signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
      // An answer after the client gave up is nobody's.
      answer.catch(() => {});
      const { response, body } = await Promise.race([answer, givenUp]);
      answered(response.status);
      // A copy whose body is already here: the call is over once this returns.
      return new Response([101, 204, 205, 304].includes(response.status) ? null : body, { status: response.status, statusText: response.statusText, headers: response.headers });
    };
  }
}

export async function simulateOrganization(scenario: OrgScenario): Promise<OrgRun> {
  const wallStart = Date.now();
  const clock = new SimClock();
  const flights = new CallsInFlight();
  const emulator: TestEmulator = await startEmulator({
    sessionExpiryMs: 1e12, lockDurationMs: 1e12, rateLimit: true,
    clock: { now: () => clock.now(), sleep: (ms) => flights.hold(clock.sleep(ms)) },
  });
  const { store } = emulator;
  const calls: OrgRun['calls'] = [];
  const countedFetch = flights.fetch((status) => calls.push({ at: clock.now(), status }));
  const client = () => new RestAdoClient({
    organizationUrl: emulator.orgUrl, token: DEFAULT_PAT.token, extension, sleep: (ms) => clock.sleep(ms), now: () => clock.now(), log: () => {}, fetch: countedFetch,
  });

  const runners: Array<{ name: string; namespace: string; poolName: string }> = [];
  for (let p = 0; p < scenario.pools; p++) {
    for (let r = 0; r < scenario.runnersPerPool; r++) runners.push({ name: `p${p}-r${r}`, namespace: `org-p${p}`, poolName: `Pool ${p}` });
  }
  const pools = await Promise.all(Array.from({ length: scenario.pools }, (_, p) => emulator.admin.createPool(`Pool ${p}`)));
  const kube = new FakeKube({ namespaces: [...new Set(runners.map((runner) => runner.namespace))], clock, podStartSeconds: scenario.podStartSeconds, podStopSeconds: 2 });

  // Runner pods: a ready pod serves its registration request until the autoscaler grants it; its agent is then online.
  const serving = new Map<string, KubeObject>();
  const granted = new Set<string>();
  const cutOff: string[] = [];
  kube.onPod((event, pod) => {
    const ip = (pod.status as { podIP?: string } | undefined)?.podIP;
    if (event === 'ready' && ip !== undefined) serving.set(ip, pod);
    if (event !== 'deleting') return;
    for (const [at, waiting] of serving) if (waiting.metadata.uid === pod.metadata.uid) serving.delete(at);
    const agent = store.poolAgents(pools[poolIndexOf(runnerOf(pod.metadata.name))].id).find((candidate) => candidate.name === pod.metadata.name);
    if (agent?.assignedRequestId !== undefined) cutOff.push(pod.metadata.name);
    const session = agent && store.sessionOf(agent.id);
    if (session) store.deleteSession(session.sessionId);
  });
  const handshake: RunnerHandshake = {
    request: async (ip) => {
      const pod = serving.get(ip);
      return pod && {
        podName: pod.metadata.name, podUid: pod.metadata.uid!, publicKey: podKey, keyId: pod.metadata.uid!.slice(0, 8), nonce: createHash('sha256').update(pod.metadata.uid!).digest('base64url'),
        systemCapabilities: { 'Agent.Name': pod.metadata.name, RUNNER_NAME: runnerOf(pod.metadata.name), RUNNER_SCALING: 'autoscaler', [identityVariables.podUid]: pod.metadata.uid! },
      };
    },
    grant: async (ip, grant) => {
      const pod = serving.get(ip);
      if (pod === undefined || pod.metadata.name !== grant.agentName) throw new Error(`no pod at ${ip} waits for ${grant.agentName}`);
      serving.delete(ip);
      granted.add(runnerOf(grant.agentName));
      store.createSession(store.agents.get(grant.agentId)!, `${grant.agentName}-listener`);
    },
  };

  // The one timeline: move the time to the next thing due once every loop waits.
  const settle = async () => {
    for (let quiet = 0; quiet < 3;) {
      await new Promise((resolve) => setImmediate(resolve));
      quiet = flights.allHeld ? quiet + 1 : 0;
    }
  };
  const quantumMs = 250;
  let onStep = () => {};
  const runUntil = async (done: () => boolean, limitAt = Infinity) => {
    for (;;) {
      await settle();
      onStep();
      if (done() || clock.now() >= limitAt) return;
      const next = clock.nextDue() ?? clock.now() + 1000;
      await clock.advance(Math.max(quantumMs, next - clock.now()));
    }
  };

  // Deploy every runner (DeployRunnerPool's flow), autoscaled from zero.
  let deployed = false;
  const deploying = Promise.all(runners.map((runner) => deployRunnerPool(readDeployOptions(new InputReader(new MemoryHost({
    connectionType: 'inCluster', namespace: runner.namespace, poolName: runner.poolName, azureDevOpsUrl: emulator.orgUrl, personalAccessToken: DEFAULT_PAT.token,
    image: 'registry.example.com/runner:1', runnerName: runner.name, autoscaling: 'inCluster', minReplicas: '0', maxReplicas: String(scenario.slotsPerRunner),
    pollSeconds: String(scenario.pollSeconds), rolloutStatusTimeout: '0',
  }))), { host: new MemoryHost(), ado: client(), connect: async () => kube, files: new MemoryFiles(), clock, keys: autoscalerKeyMaker }))).finally(() => (deployed = true));
  await runUntil(() => deployed);
  await deploying;

  // Start the autoscalers: one per runner, each with its own client (its own view of the rate-limit headers).
  let stopping = false;
  let stopNow = () => {};
  const stopped = new Promise<void>((resolve) => (stopNow = resolve));
  const stop = {
    get stopped() {
      return stopping;
    },
    wait: (ms: number, until?: Promise<void>) => Promise.race([clock.sleep(ms), stopped, ...(until ? [until] : [])]),
  };

  // Their pods start over one interval, as the pods of separate deployments do (scheduling, image, lease), spread
  // evenly: started at one instant, they would look in lockstep for ever, which no cluster does.
  const startsAfter = (index: number) => Math.round(((index * 0.618034) % 1) * scenario.pollSeconds * 1000);
  const loops = runners.map((runner, index) => clock.sleep(startsAfter(index)).then(() => runAutoscaler({
    namespace: runner.namespace, runnerName: runner.name, poolName: runner.poolName, organizationUrl: emulator.orgUrl, extension,
    settings: { minReplicas: 0, maxReplicas: scenario.slotsPerRunner, standby: 0, pollSeconds: scenario.pollSeconds }, keys: autoscalerKeyMaker.make().public,
  }, { kube, ado: client(), handshake, clock, log: new MemoryHost(), unheldKey, identity: `${runner.name}-autoscaler` }, stop, quietEvents)));

  const replicas = (runner: { name: string; namespace: string }) => (kube.peek('StatefulSet', runner.namespace, runner.name)?.spec as { replicas?: number } | undefined)?.replicas ?? 0;
  const namespaces = [...new Set(runners.map((runner) => runner.namespace))];
  const atRest = () => runners.every((runner) => replicas(runner) === 0) && namespaces.every((namespace) => kube.all('Pod', namespace).length === 0);
  // Bootstrap: each runner runs slot 0 once to register (a pool with no agent rejects every job), then rests at zero.
  const bootstrapped = () => runners.every((runner) => granted.has(runner.name)) && atRest();
  await runUntil(bootstrapped, clock.now() + 30 * 60_000);
  if (!bootstrapped()) throw new Error(`the runners did not register and come to rest within 30 minutes: ${runners.filter((runner) => !granted.has(runner.name)).map((runner) => runner.name).join(', ')} not registered`);
  const idle = clock.now();
  await runUntil(() => false, idle + scenario.idleMinutes * 60_000);

  // The morning burst: every slot's worth of jobs at once, each only its runner can take (runners of a pool differ by demands).
  const burst = clock.now();
  const jobs: OrgRun['jobs'] = [];
  const byRequest = new Map<number, OrgRun['jobs'][number]>();
  const ranks = new Map(runners.map((runner) => [runner.name, [] as OrgRun['jobs']]));
  const total = runners.length * scenario.slotsPerRunner;
  for (let i = 0; i < total; i++) {
    const runner = runners[i % runners.length];
    const job = store.queueJob(pools[poolIndexOf(runner.name)].id, { script: 'true', demands: [`RUNNER_NAME -equals ${runner.name}`] });
    if ('rejected' in job) throw new Error(job.rejected);
    const record = { runner: runner.name, queued: burst };
    jobs.push(record);
    byRequest.set(job.requestId, record);
    ranks.get(runner.name)!.push(record);
  }
  const [shortest, longest] = scenario.jobMinutes;
  const minutesOf = (index: number) => shortest + ((longest - shortest) * index) / Math.max(1, total - 1);
  const waiting = new Set(byRequest.keys());
  let looked = 0;
  onStep = () => {
    // Once a simulated second: reaction and start times are to the second.
    if (clock.now() - looked < 1000) return;
    looked = clock.now();
    for (const runner of runners) {
      const count = replicas(runner);
      for (const record of ranks.get(runner.name)!.slice(0, count)) record.slotRequested ??= clock.now();
    }
    for (const requestId of waiting) {
      const job: Job = store.jobs.get(requestId)!;
      if (job.reservedAgentId === undefined) continue;
      waiting.delete(requestId);
      const record = byRequest.get(requestId)!;
      record.started = clock.now();
      const agentName = store.agents.get(job.reservedAgentId)!.name;
      clock.at(clock.now() + minutesOf(jobs.indexOf(record)) * 60_000, () => {
        store.finishJob(job, 'succeeded');
        record.finished = clock.now();
        record.result = 'succeeded';
        kube.completePod(`org-p${poolIndexOf(runnerOf(agentName))}`, agentName);
      });
    }
  };
  // The 429 storm: Azure DevOps blocks every call of the identity for a while (another tool spent its allowance).
  const stormStart = burst + scenario.stormAfterMinutes * 60_000;
  const stormEnd = stormStart + scenario.stormMinutes * 60_000;
  clock.at(stormStart, () => store.faults.push({ id: store.id('fault'), path: '.', kind: 'rateLimit', retryAfterSeconds: scenario.stormRetryAfterSeconds, remaining: Number.MAX_SAFE_INTEGER }));
  clock.at(stormEnd, () => store.clearFaults());
  await runUntil(() => clock.now() > stormEnd && jobs.every((job) => job.result !== undefined) && atRest(), burst + scenario.burstLimitMinutes * 60_000);
  const end = clock.now();

  stopping = true;
  stopNow();
  const finished = Promise.all(loops);
  let over = false;
  void finished.finally(() => (over = true));
  await runUntil(() => over);
  await finished;
  const organizationIdentity = `user:${DEFAULT_PAT.user}`;
  const charges = store.rateLimiter!.log.filter((charge) => charge.identity === organizationIdentity);
  await emulator.stop();
  return {
    scenario, phases: { idle, burst, stormStart, stormEnd, end }, calls, charges,
    jobs, cutOff, finalReplicas: new Map(runners.map((runner) => [runner.name, replicas(runner)])), wallSeconds: (Date.now() - wallStart) / 1000,
  };
}

/** Extension data needs an installed extension's identity; any name serves the emulator. */
const extension = { publisher: 'tests', id: 'azure-devops-runner' };

/** The sliding window, among charges from `from` to `to`, that holds the most TSTUs: its total and its charges. */
function peakWindow(charges: OrgRun['charges'], from: number, to: number): { tstus: number; charges: OrgRun['charges'] } {
  const within = charges.filter((charge) => charge.at >= from && charge.at <= to).sort((a, b) => a.at - b.at);
  let best = { tstus: 0, first: 0, last: -1 };
  let sum = 0;
  for (let first = 0, last = 0; last < within.length; last++) {
    sum += within[last].tstus;
    while (within[last].at - within[first].at >= windowMs) sum -= within[first++].tstus;
    if (sum > best.tstus) best = { tstus: sum, first, last };
  }
  return { tstus: best.tstus, charges: within.slice(best.first, best.last + 1) };
}

/** The most TSTUs charged within any sliding window, among charges from `from` to `to`. */
export function peakWindowTstus(charges: OrgRun['charges'], from = -Infinity, to = Infinity): number {
  return peakWindow(charges, from, to).tstus;
}

/** When that window starts. */
export function peakWindowStart(charges: OrgRun['charges'], from = -Infinity, to = Infinity): number {
  return peakWindow(charges, from, to).charges[0]?.at ?? Number.NaN;
}

/** What each kind of call cost in that window, most first. */
export function peakWindowByCall(charges: OrgRun['charges'], from = -Infinity, to = Infinity): Array<[string, number]> {
  return byCall(peakWindow(charges, from, to).charges);
}

/** TSTUs by call, the most first. */
function byCall(charges: OrgRun['charges']): Array<[string, number]> {
  const tstus = new Map<string, number>();
  for (const charge of charges) tstus.set(charge.call, (tstus.get(charge.call) ?? 0) + charge.tstus);
  return [...tstus].sort((a, b) => b[1] - a[1]);
}

/** Per minute, between `from` and `to`. */
export function perMinute(count: number, from: number, to: number): number {
  return count / Math.max(1e-9, (to - from) / 60_000);
}

/** The figures of a run, as `npm run bench -- scale-org` prints them. */
export function orgFigures(run: OrgRun): Array<[string, number]> {
  const { phases, calls, charges, jobs } = run;
  const sum = (list: Array<{ tstus: number }>) => list.reduce((total, charge) => total + charge.tstus, 0);
  const inPhase = <T extends { at: number }>(list: T[], from: number, to: number) => list.filter((entry) => entry.at >= from && entry.at < to);
  const seconds = (values: number[]) => values.map((ms) => Math.round(ms / 100) / 10);
  const reaction = seconds(jobs.filter((job) => job.slotRequested !== undefined).map((job) => job.slotRequested! - job.queued));
  const start = seconds(jobs.filter((job) => job.started !== undefined).map((job) => job.started! - job.queued));
  const busyTo = phases.stormStart;
  return [
    ['runners', run.finalReplicas.size],
    ['calls-per-minute-idle', perMinute(inPhase(calls, phases.idle, phases.burst).length, phases.idle, phases.burst)],
    ['calls-per-minute-burst', perMinute(inPhase(calls, phases.burst, busyTo).length, phases.burst, busyTo)],
    ['calls-per-minute-after-storm', perMinute(inPhase(calls, phases.stormEnd, phases.end).length, phases.stormEnd, phases.end)],
    ['tstu-first-minute-after-storm', sum(inPhase(charges, phases.stormEnd, phases.stormEnd + 60_000))],
    ['tstu-per-minute-idle', perMinute(sum(inPhase(charges, phases.idle, phases.burst)), phases.idle, phases.burst)],
    ...byCall(inPhase(charges, phases.idle, phases.burst)).map(([call, tstus]): [string, number] => [`tstu-per-minute-idle[${call}]`, perMinute(tstus, phases.idle, phases.burst)]),
    ['tstu-per-minute-burst', perMinute(sum(inPhase(charges, phases.burst, busyTo)), phases.burst, busyTo)],
    ['tstu-5min-peak-idle', peakWindowTstus(charges, phases.idle, phases.burst)],
    ['tstu-5min-peak', peakWindowTstus(charges, phases.idle, phases.end)],
    ['tstu-5min-peak-starts-min-after-burst', (peakWindowStart(charges, phases.idle, phases.end) - phases.burst) / 60_000],
    ...peakWindowByCall(charges, phases.idle, phases.end).map(([call, tstus]): [string, number] => [`tstu-5min-peak[${call}]`, tstus]),
    ['answers-429', calls.filter((call) => call.at >= phases.idle && call.status === 429).length],
    ['answers-429-outside-storm', calls.filter((call) => call.at >= phases.idle && call.status === 429 && (call.at < phases.stormStart || call.at >= phases.stormEnd)).length],
    ['reaction-s p50', percentile(reaction, 0.5)],
    ['reaction-s p95', percentile(reaction, 0.95)],
    ['reaction-s max', percentile(reaction, 1)],
    ['slots-requested', reaction.length],
    ['job-start-s p50', percentile(start, 0.5)],
    ['job-start-s p95', percentile(start, 0.95)],
    ['job-start-s max', percentile(start, 1)],
    ['jobs-started', start.length],
    ['jobs-succeeded', jobs.filter((job) => job.result === 'succeeded').length],
    ['jobs-cut-off', run.cutOff.length],
    ['converged-after-storm-min', (phases.end - phases.stormEnd) / 60_000],
    ['runners-at-zero-at-end', [...run.finalReplicas.values()].filter((count) => count === 0).length],
    ['wall-s', run.wallSeconds],
  ];
}
