// The in-cluster autoscaler's loop (autoscaler/DESIGN.md): the scaling pass ScaleRunnerPool's queue mode runs, for as
// long as the pod lives, plus what only a resident component can do: register each new runner pod's agent as the pod
// starts (src/core/registration.ts), and replace idle pods of an old template. It never exits on a failure: it warns,
// waits and tries again; only a stop request ends it, between two steps, never in the middle of a drain.
import type { AutoscalerOptions } from '../core/autoscaler-options.js';
import { AdoError, type AdoClient } from '../core/ports/ado.js';
import type { AgentInfo } from '../core/model.js';
import type { Clock, StopSignal } from '../core/ports/clock.js';
import type { AutoscalerEvents } from '../core/ports/autoscaler-events.js';
import type { RunnerHandshake } from '../core/ports/handshake.js';
import type { JobNotices } from '../core/ports/job-notices.js';
import type { Log } from '../core/ports/host.js';
import type { KubeClient, KubeObject } from '../core/ports/kube.js';
import { annotations, poolLabelSelector } from '../core/manifests/pool-labels.js';
import { agentRegistration, handshakeTargets, registrationGrant, requestProblem, type HandshakeTarget, type AgentRegistration, type PublicKey } from '../core/registration.js';
import { declaredCapabilities, hadJob, needsNewAgentId, planSingleUse, podsWithLiveAgents, recordedAgentIds } from '../core/single-use.js';
import { slotOrdinal } from '../core/slots.js';
import { otherOwner, withOwnIdentity, type RunnerIdentity } from '../core/runner-identity.js';
import type { PoolLook } from '../core/scale-decision.js';
import { BudgetPace, backingOff, pollDelay } from '../core/poll-interval.js';
import { NoticedAgents } from '../core/noticed-agents.js';
import { isTransient } from './scale-pool.js';
import { scaleFieldManager, scalePass, type PassState, type UpkeepPart } from './scale-pass.js';
import { deleteRegistration, keepSingleUse } from './single-use.js';
import { Leadership, LeadershipLost } from './leadership.js';
import { setAgentEnabled } from './agent-drain.js';
import { KeptCapabilities } from './kept-capabilities.js';
import { SharedJobRequests } from './shared-job-requests.js';
import { afterJobsEnded, pendingUngates, planGates, type SlotsWanted } from '../core/slot-gate.js';
import { liftGates } from './slot-gate.js';

export interface AutoscalerServices {
  kube: KubeClient;
  ado: AdoClient;
  handshake: RunnerHandshake;
  clock: Clock;
  log: Log;
  /** A public key whose private half nobody keeps: what a retired registration is left with. */
  unheldKey: () => PublicKey;
  /** Who this autoscaler is in the runner's Lease: its pod's name. */
  identity: string;
  /** Its runner pods' notices that their agent took a job; without, its grants give no notice address. */
  notices?: JobNotices;
}

/** How many pods it registers at once in a burst. */
const handshakeConcurrency = 8;

export async function runAutoscaler(options: AutoscalerOptions, given: AutoscalerServices, stop: StopSignal, events: AutoscalerEvents): Promise<void> {
  // Its looks share the pool's lists with the namespace's other runners of the pool (issue #26,
  // src/core/shared-look.ts), and read capabilities only for registrations that changed since (issue #30), the same
  // for every caller.
  const sharedJobs = new SharedJobRequests(given.ado, given.kube, given.clock, given.log, {
    namespace: options.namespace, organizationUrl: options.organizationUrl, poolName: options.poolName, pollSeconds: options.settings.pollSeconds, identity: given.identity,
    owner: () => (state.statefulSetUid === undefined ? undefined : { name: options.runnerName, uid: state.statefulSetUid }),
  });
  const services = { ...given, ado: new KeptCapabilities(sharedJobs, given.clock) };
  const { kube, ado, clock, log } = services;
  const pool = await findPool(options, services, stop, events);
  if (pool === undefined) return;
  const pass = {
    namespace: options.namespace, runnerName: options.runnerName, poolName: options.poolName, organizationUrl: options.organizationUrl,
    target: { mode: 'queue' as const, limits: options.settings }, dryRun: false, removeStaleRegistrations: true, actor: 'autoscaler' as const,
  };
  // One autoscaler acts for the runner at a time; another one waits, changing nothing (src/core/lease.ts).
  const leadership = new Leadership(kube, options.namespace, options.runnerName, services.identity, clock, log);
  const beforeWrite = () => leadership.check();
  const grantedAgents = new Map<number, Record<string, string>>();
  const state: PassState = { kube, poolId: pool.id, beforeWrite, grantedAgents };
  const registrations = new Registrations(options, services, pool, events, beforeWrite, grantedAgents, state);
  const self = { runnerName: options.runnerName, namespace: options.namespace, cluster: options.cluster };
  // Single-use upkeep of the registrations `ours` shows, against the pods as last seen.
  const keepUp = async (ours: AgentInfo[], statefulSet: KubeObject, part: UpkeepPart) => {
    await beforeWrite();
    const { retire, disable } = planSingleUse({ runnerName: options.runnerName, statefulSetUid: statefulSet.metadata.uid }, ours, registrations.pods);
    const plan = { retire: part === 'disable' ? [] : retire, disable: part === 'retire' ? [] : disable };
    const trusted = { granted: grantedAgents, declared: declaredCapabilities(statefulSet) };
    if (await keepSingleUse(plan, pool.id, { ado, kube, namespace: options.namespace, self, trusted, log, unheldKey: services.unheldKey, beforeWrite })) state.agents = undefined;
  };
  // The StatefulSet the last pass saw: what a retirement between passes builds its placeholder from.
  let lastStatefulSet: KubeObject | undefined;
  // From each pass's own look, around its replicas write (PassState.beforeScale says when).
  state.beforeScale = async (look, statefulSet, part) => {
    // Only once the pods are known: before, every registration would look like its pod's agent had ended.
    if (!registrations.seen) return;
    lastStatefulSet = statefulSet;
    await keepUp(look.ours, statefulSet, part);
  };
  let lastReason = '';
  let term = 0;
  let failures = 0;
  let nextPass = 0;
  // Whether a registration may take a job or a retirement is owed (PollState.keysAtStake): the next look within a minute.
  // Until a pass has looked (at the start, in a new term, after a failed pass), one may: a warm slot's, or one the
  // failed pass enabled before it failed.
  let keysAtStake = true;
  // The next pass: on time, or sooner for notices (below).
  const nextLook = () => (backsOff() ? nextPass : Math.min(nextPass, noticed.due()));
  // A pod's notice that its agent took a job: look now, so that the busy registration is disabled while its job runs
  // (src/core/job-notice.ts). The notice is the pod's word, for an agent id this runner granted (by this run, or
  // recorded on one of its pods): it only brings a pass sooner, at most every 2 s and not while the loop backs off.
  const noticed = new NoticedAgents();
  // The ids recorded on its pods, read again only when the pods (or the StatefulSet) change, not for each notice.
  let recorded = { pods: registrations.pods, statefulSetUid: state.statefulSetUid, ids: new Set<number>() };
  const recordedIds = () => {
    if (recorded.pods !== registrations.pods || recorded.statefulSetUid !== state.statefulSetUid) {
      const { pods } = registrations;
      const { statefulSetUid } = state;
      recorded = { pods, statefulSetUid, ids: new Set(recordedAgentIds({ runnerName: options.runnerName, statefulSetUid }, pods)) };
    }
    return recorded.ids;
  };
  const owned = (agentId: number) => grantedAgents.has(agentId) || recordedIds().has(agentId);
  const backsOff = () => backingOff({ rateLimit: ado.rateLimit, failures });
  // The budget's stretch, remembered: once answers no longer carry the headers, the pace comes back by halves.
  const pace = new BudgetPace();
  const nextDelay = () => pace.delay(options.settings.pollSeconds, { rateLimit: ado.rateLimit, failures, keysAtStake }, clock.now());
  // Pods change between passes (a job ends, its pod is replaced): follow them, and register each new one at once.
  const watching = new AbortController();
  let wake = () => {};
  // While the loop backs off: registrations whose own pod said its agent took a job, to disable without a look.
  const busy = new Set<number>();
  const stopNotices = services.notices?.listen((agentId, from) => {
    // No look comes sooner while backing off, but the pod holding the registration (its IP, the agent id recorded on
    // it) is believed about its own agent: the next turn disables that one registration, so that a short job that
    // stops its start script leaves none enabled. Another pod's notice can disable nothing.
    if (backsOff() && registrations.holderAddress(agentId) === from) {
      busy.add(agentId);
      wake();
    }
    if (!owned(agentId) || !noticed.take(agentId, clock.now())) return;
    log.info(`Agent ${agentId}'s pod says it took a job: ${backsOff() ? 'looking at the next pass (backing off now)' : 'looking now'}.`);
    wake();
  });
  // While the loop backs off: the registrations of pods whose agent ended, by agent id, with their slot's name.
  const ended = new Map<number, string>();
  // The slots whose pods' agents ended while a pass ran: its look may be older than their end, and its wish and its
  // next interval would undo what the end asked for (below); the end is applied again once the pass is over.
  let endedInPass: number[] | undefined;
  // One of them had no agent id recorded: the look it asked for is still due after the pass.
  let unrecordedEndInPass = false;
  const slotsOf = (pods: KubeObject[]) => pods.flatMap((pod) => slotOrdinal(options.runnerName, pod.metadata.name) ?? []);
  /** A wish without the slots whose jobs ended since, and the slots it starts as their next pods appear. */
  const afterEnds = (wanted: SlotsWanted, slots: number[], pods: KubeObject[]) => {
    state.slotsWanted = afterJobsEnded(wanted, slots);
    const plan = planGates({ runnerName: options.runnerName, ...state.slotsWanted, pods });
    state.pendingStarts = new Set([...plan.pending, ...plan.ungate.map((pod) => pod.ordinal)]);
  };
  const following = followPods(kube, options, stop, watching.signal, (pods) => {
    // A pod whose agent ended leaves a registration to retire: at once, not at the next interval. The next turn
    // retires that one registration from a read of its own agent: a look at the whole pool for each pod whose job
    // ended would spend the organization's rate budget faster the busier the pool (issue #26: a thousand jobs ending
    // over ten minutes, each bringing a read of a hundred agents). A pod with no agent id recorded brings the look.
    const live = podsWithLiveAgents(pods);
    const wasLive = podsWithLiveAgents(registrations.pods);
    const runner = { runnerName: options.runnerName, statefulSetUid: state.statefulSetUid };
    const endedPods = registrations.seen ? registrations.pods.filter((known) => wasLive.has(known.metadata.uid!) && !live.has(known.metadata.uid!)) : [];
    for (const pod of endedPods) {
      const [id] = recordedAgentIds(runner, [pod]);
      if (id !== undefined) ended.set(id, pod.metadata.name);
      else {
        nextPass = 0;
        unrecordedEndInPass = endedInPass !== undefined;
      }
    }
    // The slots the last decision wants running that no longer run start again as their next pods appear, never more
    // than it wanted, and a slot it wanted for a job now ended no more; the next pass decides the rest on time. A pod
    // that was leaving (scaled down before, replaced) ran no job the decision wanted its slot for.
    const endedSlots = slotsOf(endedPods.filter((pod) => pod.metadata.deletionTimestamp === undefined));
    if (endedSlots.length > 0 && state.slotsWanted !== undefined) afterEnds(state.slotsWanted, endedSlots, pods);
    endedInPass?.push(...endedSlots);
    registrations.pods = pods;
    registrations.seen = true;
    wake();
  });
  // After a failed write or read between passes: the rest is left to one look, at once, which covers them all (each
  // call may take its whole retry budget while Azure DevOps is away: one by one, a turn would outlast the liveness
  // window). With the lease lost, nothing: whoever acts next starts from a fresh look.
  const leaveToTheNextPass = (error: unknown, what: string) => {
    busy.clear();
    ended.clear();
    if (error instanceof LeadershipLost) return;
    nextPass = 0;
    keysAtStake = true;
    log.warning(`Could not ${what}; the next pass, at once, does. ${(error as Error).message}`);
  };
  // Disables each registration its own pod said took a job, unless the last look showed it disabled; one that is
  // gone needs nothing.
  const disableBusy = async () => {
    const known = new Map(state.agents?.list.map((agent) => [agent.id, agent]));
    for (const id of [...busy]) {
      busy.delete(id);
      if (known.get(id)?.enabled === false) continue;
      try {
        await beforeWrite();
        await ado.setAgentEnabled(pool.id, id, false);
        state.agents = undefined;
        log.info(`Disabled agent ${id}, whose pod says it took a job: its registration takes no further job.`);
      } catch (error) {
        if (error instanceof AdoError && error.status === 404) continue;
        return leaveToTheNextPass(error, `disable agent ${id}, whose pod says it took a job`);
      }
    }
  };
  // Retires each ended pod's registration from a read of that one agent (by its slot's name), as a pass would from
  // its look; one the slot registered anew since (another id) is left to its pod. Without a pass's StatefulSet yet,
  // the next pass (at once) does it.
  const retireEnded = async () => {
    for (const [id, name] of [...ended]) {
      ended.delete(id);
      try {
        if (lastStatefulSet === undefined) throw new Error('no pass has seen the StatefulSet yet');
        const agent = (await ado.listAgents(pool.id, name)).find((found) => found.id === id);
        if (agent !== undefined) await keepUp([agent], lastStatefulSet, 'all');
      } catch (error) {
        return leaveToTheNextPass(error, `retire ${name}'s registration (agent ${id}), whose pod's agent ended`);
      }
    }
  };
  /** What this autoscaler kept of its looks: none of it is trusted once another may have acted. */
  const forgetLook = () => {
    state.agents = undefined;
    state.pendingStarts = undefined;
    state.slotsWanted = undefined;
    keysAtStake = true;
    ado.startFresh();
    sharedJobs.lookAfresh();
  };
  // The new pods of slots the last pass wanted started (a scale-up's): un-gated as soon as the watch shows them, from
  // what that pass decided, with no call to Azure DevOps (src/core/slot-gate.ts).
  const startsDue = () => (state.pendingStarts?.size ? pendingUngates(options.runnerName, state.pendingStarts, registrations.pods) : []);
  const startPending = async () => {
    const due = startsDue();
    for (const { ordinal } of due) state.pendingStarts!.delete(ordinal);
    try {
      // A pod replaced since the watch showed it: its slot's next pod is the one to start.
      for (const { ordinal } of await liftGates(kube, options.namespace, due, scaleFieldManager, log, beforeWrite)) state.pendingStarts?.add(ordinal);
    } catch (error) {
      leaveToTheNextPass(error, `start ${due.map((pod) => pod.name).join(', ')}`);
    }
  };
  try {
    while (!stop.stopped) {
      events.turning();
      if (!(await leadership.hold())) {
        events.waiting();
        await stop.wait(Math.max(0, leadership.nextLook() - clock.now()));
        // Whoever acts next starts from a fresh look.
        forgetLook();
        continue;
      }
      // A new term: another autoscaler may have acted meanwhile; nothing kept from before is trusted.
      if (leadership.terms !== term) {
        term = leadership.terms;
        forgetLook();
      }
      if (busy.size > 0) await disableBusy();
      if (ended.size > 0) await retireEnded();
      // Its lease lost meanwhile: no look nor registration of its own; the next turn waits its turn.
      if (!leadership.acting()) continue;
      // Before registering other pods: a pod's start is the long wait of a scale-up.
      if (startsDue().length > 0) await startPending();
      // A look a notice brought goes before registering more pods, whose grants in a burst take seconds: the busy
      // registration is disabled within its job. Every turn registers at least one batch: notices, a hostile pod's
      // among them, can put registrations off by one pass, never stop them.
      const noticeDue = () => !backsOff() && noticed.due() <= clock.now();
      const noticeFirst = noticeDue();
      const register = async () => {
        // A new registration is news the next look must see (the agents of an idle pool are otherwise read every minute),
        // and a key at stake: however low the budget, that look comes within a minute.
        if (await registrations.registerNewPods(() => noticeDue() || stop.stopped)) {
          state.agents = undefined;
          keysAtStake = true;
          nextPass = Math.min(nextPass, clock.now() + nextDelay());
        }
      };
      if (!noticeFirst) await register();
      if (clock.now() >= nextLook()) {
        const started = clock.now();
        if (started < nextPass) noticed.brought(started);
        // A noticed agent's job is news the cached agents, and a list read before the notice, cannot show.
        if (noticed.due() < Number.POSITIVE_INFINITY) {
          state.agents = undefined;
          sharedJobs.lookAfresh();
        }
        endedInPass = [];
        try {
          const { decision, look, started: jobsStarted, waits, stuck, takesJobs } = await scalePass(pass, { log, ado, clock }, state);
          events.passed({ decision, look, durationMs: clock.now() - started, jobsStarted, stuck });
          state.waits = waits;
          noticed.looked(look.ours, owned, started);
          registrations.noteOnline(look);
          failures = 0;
          // One line per decision that changes something (or says something new).
          const changes = decision.replicas !== decision.previousReplicas;
          if (changes || decision.reason.replace(/\d+/g, '#') !== lastReason) log.info(decision.reason);
          lastReason = decision.reason.replace(/\d+/g, '#');
          keysAtStake = takesJobs;
          nextPass = clock.now() + nextDelay();
          // Pods that ended during the pass, after its look: as if they ended now (a slot the look saw busy, done).
          if (endedInPass.length > 0 && state.slotsWanted !== undefined) {
            const { busy } = state.slotsWanted;
            afterEnds(state.slotsWanted, endedInPass.filter((ordinal) => busy.includes(ordinal)), registrations.pods);
          }
          if (unrecordedEndInPass) nextPass = 0;
        } catch (error) {
          const transient = isTransient(error);
          events.passFailed(error as Error, transient);
          failures++;
          keysAtStake = true;
          const delay = nextDelay();
          log.warning(`This pass failed${transient ? '' : ' (refused)'}; the next one is in ${Math.round(delay / 1000)} s. ${(error as Error).message}`);
          nextPass = clock.now() + delay;
        } finally {
          endedInPass = undefined;
          unrecordedEndInPass = false;
        }
      }
      if (noticeFirst) await register();
      // Sleep until the next pass or the next look at a starting pod, or until a pod changes.
      const woken = new Promise<void>((resolve) => (wake = resolve));
      // An ended pod, a busy notice or a wanted slot's new pod seen during this turn is handled at once (its wake came
      // before this turn's `woken`).
      const endedDue = ended.size + busy.size > 0 || startsDue().length > 0 ? clock.now() : Number.POSITIVE_INFINITY;
      await stop.wait(Math.max(0, Math.min(nextLook(), registrations.nextTry(), leadership.renewDue(), endedDue) - clock.now()), woken);
    }
  } finally {
    stopNotices?.();
    watching.abort();
    await following;
    // Stopped on purpose (a rollout, a drained node): the next autoscaler need not wait for the lease to run out.
    await leadership.release();
  }
}

/** The pool's id; Azure DevOps may be unreachable when the autoscaler starts: it waits for it. */
async function findPool(options: AutoscalerOptions, services: AutoscalerServices, stop: StopSignal, events: AutoscalerEvents): Promise<{ id: number; name: string } | undefined> {
  for (let failures = 1; !stop.stopped; failures++) {
    events.turning();
    try {
      const pool = await services.ado.findPool(options.poolName);
      if (pool !== undefined) return pool;
      services.log.warning(`The agent pool '${options.poolName}' does not exist in ${options.organizationUrl}, or the token cannot see it; looking again.`);
    } catch (error) {
      services.log.warning(`Cannot read the agent pool '${options.poolName}' yet: ${(error as Error).message}`);
    }
    await stop.wait(pollDelay(options.settings.pollSeconds, { failures }));
  }
  return undefined;
}

/** Keeps `onPods` up to date with the runner's pods: a list, then a watch, again whenever the stream ends. */
async function followPods(kube: KubeClient, options: AutoscalerOptions, stop: StopSignal, signal: AbortSignal, onPods: (pods: KubeObject[]) => void): Promise<void> {
  for (let failures = 0; !signal.aborted && !stop.stopped;) {
    try {
      await kube.watch('v1', 'Pod', options.namespace, poolLabelSelector(options.runnerName), onPods, signal);
      failures = 0;
    } catch {
      // The API server restarts or is away: try again, less often the longer it lasts; passes report the outage.
      failures++;
    }
    if (!signal.aborted) await stop.wait(Math.min(30_000, 250 * 2 ** failures));
  }
}

/** The registration handshake with each new runner pod: several pods at once, each pod one try at a time. */
class Registrations {
  /** The runner's pods as last seen, and whether they have been seen at all yet. */
  pods: KubeObject[] = [];
  seen = false;
  /** Pods granted, by UID, with the agent container's restart count then: a restarted agent makes a new key. */
  private readonly granted = new Map<string, number>();
  /** Pods not granted yet, by UID: when to look at them again. */
  private readonly backoff = new Map<string, { at: number; tries: number }>();
  /** Whose agents it may re-key: those carrying its runner's identity, and those it granted. */
  private readonly self: RunnerIdentity;

  constructor(
    private readonly options: AutoscalerOptions,
    private readonly services: AutoscalerServices,
    private readonly pool: { id: number; name: string },
    private readonly events: AutoscalerEvents,
    /** Throws once this autoscaler may no longer act (its lease lost): before every registration it writes. */
    private readonly beforeWrite: () => Promise<void>,
    /** The agent ids it granted (PassState.grantedAgents): it adds each registration it makes, with its capabilities. */
    private readonly grantedAgents: Map<number, Record<string, string>>,
    /** Its StatefulSet's UID, as the last pass read it: only the pods it controls are registered. */
    private readonly passState: Pick<PassState, 'statefulSetUid'>,
  ) {
    this.self = { runnerName: options.runnerName, namespace: options.namespace, cluster: options.cluster, granted: grantedAgents };
  }

  /**
   * A pod whose agent is online has its registration: no need to ask it. Its agent is the one of its name granted the
   * agent id recorded on it, not one that says it runs there: a copied key's session may claim any pod's UID.
   */
  noteOnline(look: PoolLook): void {
    const online = new Set(look.ours.filter((agent) => agent.status === 'online').map((agent) => `${agent.name.toLowerCase()}/${agent.id}`));
    const recorded = new Map(this.pods.map((pod) => [pod.metadata.uid, pod.metadata.annotations?.[annotations.agentId]]));
    for (const target of this.targets()) {
      if (online.has(`${target.name.toLowerCase()}/${recorded.get(target.uid)}`) && !this.granted.has(target.uid)) {
        this.granted.set(target.uid, target.restarts);
        this.backoff.delete(target.uid);
      }
    }
  }

  /** The IP of the runner's live pod with `agentId` recorded on it: the one that holds that registration's key. */
  holderAddress(agentId: number): string | undefined {
    const live = podsWithLiveAgents(this.pods);
    const runner = { runnerName: this.options.runnerName, statefulSetUid: this.passState.statefulSetUid };
    const pod = this.pods.find((candidate) => live.has(candidate.metadata.uid!) && recordedAgentIds(runner, [candidate])[0] === agentId);
    return (pod?.status as { podIP?: string } | undefined)?.podIP || undefined;
  }

  private targets(): HandshakeTarget[] {
    return handshakeTargets({ runnerName: this.options.runnerName, statefulSetUid: this.passState.statefulSetUid }, this.pods);
  }

  /** When a pod not granted yet is due for another look (Infinity when none waits). */
  nextTry(): number {
    return Math.min(...[...this.backoff.values()].map((entry) => entry.at));
  }

  /**
   * Registers the pods that wait for it; true when it changed any registration (even if its grant then failed). After
   * its first batch it stops once `giveWay` says so (a look is due, or the loop stops), leaving the rest due at once.
   */
  async registerNewPods(giveWay: () => boolean): Promise<boolean> {
    const now = this.services.clock.now();
    const targets = this.targets();
    const alive = new Set(targets.map((target) => target.uid));
    for (const uid of new Set([...this.granted.keys(), ...this.backoff.keys()])) {
      if (!alive.has(uid)) {
        this.granted.delete(uid);
        this.backoff.delete(uid);
      }
    }
    const due = targets.filter((target) => this.granted.get(target.uid) !== target.restarts && (this.backoff.get(target.uid)?.at ?? 0) <= now);
    if (due.length === 0) return false;
    // Ask every due pod for its request first; one look at the pool's agents then serves all who asked.
    const asked = await Promise.all(due.map(async (target) => ({ target, request: await this.services.handshake.request(target.ip).catch(() => undefined) })));
    const waiting = asked.filter(({ target, request }) => {
      // Not serving: its helper has not started yet, or it is registered and its agent runs (after our own restart).
      if (request === undefined) this.retryLater(target, false);
      return request !== undefined;
    });
    if (waiting.length === 0) return false;
    let agents;
    let deployment;
    try {
      // One pod (a slot's next pod after its job, the common case): its agent alone, not every agent of the pool.
      agents = await this.services.ado.listAgents(this.pool.id, waiting.length === 1 ? waiting[0].target.name : undefined);
      deployment = await this.services.ado.deploymentType();
    } catch (error) {
      for (const { target } of waiting) this.failed(target, error as Error);
      return false;
    }
    let registered = false;
    for (let i = 0; i < waiting.length; i += handshakeConcurrency) {
      if (i > 0 && giveWay()) {
        const now = this.services.clock.now();
        for (const { target } of waiting.slice(i)) this.backoff.set(target.uid, { at: now, tries: this.backoff.get(target.uid)?.tries ?? 0 });
        break;
      }
      await Promise.all(waiting.slice(i, i + handshakeConcurrency).map(async ({ target, request }) => {
        try {
          const problem = requestProblem(target, request!);
          if (problem !== undefined) throw new Error(`refused its registration request: ${problem}`);
          const existing = agents.find((known) => known.name.toLowerCase() === target.name.toLowerCase());
          // Agent names are unique in a pool: never re-key or delete another cluster's (or namespace's) agent.
          const owner = existing && otherOwner(this.self, existing);
          if (owner !== undefined) throw new Error(`the pool's agent ${existing!.name} belongs to ${owner}, not to this runner; give one of the two another runnerName`);
          const registration = agentRegistration({ ...request!, systemCapabilities: withOwnIdentity(request!.systemCapabilities, this.self) });
          const agent = await this.register(target, registration, existing);
          // The pool's registrations changed, whatever fails next: the agents read before are stale.
          registered = true;
          this.grantedAgents.set(agent.id, registration.systemCapabilities);
          await this.recordGrant(target, agent.id);
          const grant = registrationGrant(this.options.organizationUrl, this.pool, agent, deployment, { url: this.services.notices?.url, request: request! });
          await this.services.handshake.grant(target.ip, grant, request!);
          this.granted.set(target.uid, target.restarts);
          this.backoff.delete(target.uid);
          this.events.registered(target.name);
          this.services.log.info(`Registered the agent of ${target.name}.`);
        } catch (error) {
          this.failed(target, error as Error);
        }
      }));
    }
    return registered;
  }

  /**
   * A slot is enabled only together with its live pod's key (src/core/single-use.ts): a placeholder (a key nobody
   * holds) is re-keyed and enabled; a registration that had a job or holds an earlier pod's key is deleted first, so
   * that the pod gets a new agent id with which no earlier session or token works. One the service keeps because it
   * still holds a job is re-keyed in place but disabled: it had a job, so it is retired once that job is abandoned,
   * and its pod with it. A pod DeployRunnerPool is replacing (marked draining) is registered disabled: a job handed to
   * it would be cut off.
   */
  private async register(target: HandshakeTarget, registration: AgentRegistration, existing: AgentInfo | undefined): ReturnType<AdoClient['registerAgent']> {
    const { ado } = this.services;
    await this.beforeWrite();
    const draining = this.pods.some((pod) => pod.metadata.uid === target.uid && pod.metadata.annotations?.[annotations.draining] === 'true');
    const outcome = existing !== undefined && needsNewAgentId(existing, target.uid) ? await deleteRegistration(ado, this.pool.id, existing) : undefined;
    if (existing === undefined || (outcome !== undefined && outcome !== 'holdsJob')) {
      return ado.registerAgent(this.pool.id, draining ? { ...registration, enabled: false } : registration);
    }
    const agent = await ado.registerAgent(this.pool.id, registration, existing.id);
    // Enabled exactly when it never had a job (one still enabled mid-job was not yet disabled by a look), by the look
    // or by the service keeping it now because it holds one (taken since the look).
    const takesJobs = !draining && !hadJob(existing) && outcome !== 'holdsJob';
    if (existing.enabled !== takesJobs) await setAgentEnabled(ado, this.services.log, this.pool.id, existing, takesJobs);
    return agent;
  }

  /**
   * Records on the pod, before its grant, the agent id it is granted: which pod holds a registration's key, in a place
   * no pod can write. Only on that incarnation of the pod (its UID a precondition); a pod it cannot mark is not granted.
   */
  private async recordGrant(target: HandshakeTarget, agentId: number): Promise<void> {
    await this.beforeWrite();
    await this.services.kube.mergePatch(
      { apiVersion: 'v1', kind: 'Pod', namespace: this.options.namespace, name: target.name },
      { metadata: { uid: target.uid, annotations: { [annotations.agentId]: String(agentId) } } },
      scaleFieldManager,
    );
  }

  private failed(target: HandshakeTarget, error: Error): void {
    this.events.registrationFailed(target.name, error);
    this.services.log.warning(`Could not register the agent of ${target.name} yet: ${error.message}`);
    this.retryLater(target, true);
  }

  /**
   * Looks again at a pod that is starting every 250 ms for its first minute (a refused connection to a pod costs
   * nothing, and every second here is a second of the pod's start), then every 2 s; after a failure, 500 ms doubling
   * to 8 s.
   */
  private retryLater(target: HandshakeTarget, failed: boolean): void {
    const tries = (this.backoff.get(target.uid)?.tries ?? 0) + 1;
    const delay = failed ? Math.min(8000, 500 * 2 ** (tries - 1)) : tries <= 240 ? 250 : 2000;
    this.backoff.set(target.uid, { at: this.services.clock.now() + delay, tries });
  }
}
