// The autoscaler's Lease (the rules and why: src/core/lease.ts): takes it, keeps it, and says whether this autoscaler
// may act now. A holder that cannot renew (the API server away, another took the lease) stops acting before anyone
// else may start.
import { KubeApiError, type KubeClient } from '../core/ports/kube.js';
import type { Clock } from '../core/ports/clock.js';
import type { Log } from '../core/ports/host.js';
import { actsUntil, leaseDurationSeconds, leaseName, leaseStep, leaseWrite, renewSeconds } from '../core/lease.js';

const fieldManager = 'azure-devops-runner-autoscaler';

/** Thrown before a write when the lease was lost meanwhile: the pass stops where it is, changing nothing more. */
export class LeadershipLost extends Error {
  constructor() {
    super('this autoscaler no longer holds its lease: another one acts for the runner now');
    this.name = 'LeadershipLost';
  }
}

export class Leadership {
  private renewedAt = Number.NEGATIVE_INFINITY;
  private leading = false;
  /** How many times it started acting: a new term may follow another autoscaler's, whose acts it did not see. */
  terms = 0;
  private renewal?: Promise<boolean>;

  constructor(
    private readonly kube: KubeClient,
    private readonly namespace: string,
    private readonly runnerName: string,
    readonly identity: string,
    private readonly clock: Clock,
    private readonly log: Log,
    /** Who it is in its log lines. */
    private readonly who = `This autoscaler (${identity})`,
  ) {}

  /** Takes or renews the lease when due; true while this autoscaler may act. */
  hold(): Promise<boolean> {
    return this.once(() => this.renew(true));
  }

  /**
   * Before every write that lowers the count, drains, re-keys or deletes: renews the lease when due, so that a pass
   * longer than the lease (registering a burst of pods on a busy node) keeps it; throws once it is lost. Only a lease
   * still held is renewed here: one that ran out, or went, is taken again only by the loop, from a fresh look.
   */
  async check(): Promise<void> {
    if (this.acting() && this.clock.now() >= this.renewDue()) await this.once(() => this.renew(false));
    if (!this.acting()) throw new LeadershipLost();
  }

  /** Callers at the same moment share one renewal. */
  private once(renewal: () => Promise<boolean>): Promise<boolean> {
    this.renewal ??= renewal().finally(() => (this.renewal = undefined));
    return this.renewal;
  }

  private async renew(mayTake: boolean): Promise<boolean> {
    const now = this.clock.now();
    const wasActing = this.acting();
    if (this.leading && now < this.renewedAt + renewSeconds * 1000) return true;
    const ref = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: this.namespace, name: leaseName(this.runnerName) };
    try {
      const step = leaseStep(await this.kube.get(ref), this.identity, now);
      if (step.kind === 'wait') return this.follow(`${step.holder} holds the lease until ${new Date(step.until).toISOString()}`);
      if (!mayTake && step.kind !== 'renew') return this.follow('its lease was removed or taken over');
      const lease = leaseWrite(step, this.namespace, this.runnerName, this.identity, now);
      if (step.kind === 'create') await this.kube.create(lease, fieldManager);
      else await this.kube.mergePatch(ref, { metadata: lease.metadata, spec: lease.spec }, fieldManager);
    } catch (error) {
      // Another autoscaler wrote the lease first: it acts, this one waits.
      if (error instanceof KubeApiError && error.status === 409) return this.follow('another autoscaler took the lease first');
      // The API server is away: act on for as long as the last renewal lasts, then stop.
      if (!this.acting()) this.follow(`the lease could not be renewed: ${(error as Error).message}`);
      return this.acting();
    }
    if (!this.leading) this.log.info(`${this.who} holds the lease and acts for ${this.runnerName}.`);
    if (!wasActing) this.terms++;
    this.leading = true;
    this.renewedAt = now;
    return true;
  }

  /** Gives the lease up, if it holds it: another autoscaler takes over at once. A failure only means it waits its turn. */
  async release(): Promise<void> {
    if (!this.acting()) return;
    this.leading = false;
    const ref = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: this.namespace, name: leaseName(this.runnerName) };
    try {
      const lease = await this.kube.get(ref);
      if ((lease?.spec as { holderIdentity?: string } | undefined)?.holderIdentity !== this.identity) return;
      await this.kube.mergePatch(ref, { metadata: { resourceVersion: lease!.metadata.resourceVersion }, spec: { holderIdentity: null } }, fieldManager);
      this.log.info(`${this.who} gave up its lease.`);
    } catch {
      // Not given up: it runs out within its duration.
    }
  }

  /** Whether it may still act: nobody else can have taken the lease over since its last renewal. */
  acting(): boolean {
    return this.leading && this.clock.now() < actsUntil(this.renewedAt);
  }

  /** When to look at the lease again while another autoscaler holds it. */
  nextLook(): number {
    return this.clock.now() + renewSeconds * 1000;
  }

  /** When the holder renews next. */
  renewDue(): number {
    return this.renewedAt + renewSeconds * 1000;
  }

  private follow(why: string): false {
    if (this.leading || this.renewedAt === Number.NEGATIVE_INFINITY) this.log.info(`${this.who} waits and changes nothing: ${why}.`);
    this.leading = false;
    this.renewedAt = 0;
    return false;
  }
}

/**
 * Waits until no autoscaler acts for the runner any more, by taking its Lease as `identity`, then removes the Lease:
 * an autoscaler that stops gives it up at once; one that cannot renew it (its Role removed, its node away) stops
 * acting before it could be taken over. For DeployRunnerPool once it removed the autoscaler: it drains next, and an
 * autoscaler still acting would enable those agents again. Waits at most `seconds` (the autoscaler's grace period
 * and its lease's duration).
 */
export async function outlastAutoscaler(kube: KubeClient, namespace: string, runnerName: string, identity: string, clock: Clock, log: Log, seconds: number): Promise<void> {
  const leadership = new Leadership(kube, namespace, runnerName, identity, clock, log, identity);
  const deadline = clock.now() + (seconds + leaseDurationSeconds) * 1000;
  while (!(await leadership.hold())) {
    if (clock.now() >= deadline) throw new Error(`The autoscaler of ${runnerName} still holds its Lease ${namespace}/${leaseName(runnerName)} after ${seconds + leaseDurationSeconds} s; nothing was drained or scaled. Run the task again once it has stopped.`);
    await clock.sleep(1000);
  }
  await kube.delete({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace, name: leaseName(runnerName) });
}
