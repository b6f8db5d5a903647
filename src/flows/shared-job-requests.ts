// The autoscaler's Azure DevOps client, sharing its pool's job requests with the namespace's other runners of the pool
// (src/core/shared-look.ts): a list another autoscaler read less than half an interval ago is taken from their Lease
// instead of read again; a list it reads itself goes there. Sharing is best effort: a Lease it cannot read or write (a
// Role from before, a conflict with another writer) only means a read of its own.
import type { Clock } from '../core/ports/clock.js';
import { DelegatingAdoClient, type AdoClient, type JobRequest } from '../core/ports/ado.js';
import type { Log } from '../core/ports/host.js';
import { KubeApiError, type KubeClient, type KubeObject } from '../core/ports/kube.js';
import { sharedLookName, sharedLookOf, sharedLookWrite, usable, type LookOwner, type Moment } from '../core/shared-look.js';
import { scaleFieldManager } from './scale-pass.js';

export interface SharedJobRequestsSettings {
  namespace: string;
  organizationUrl: string;
  poolName: string;
  pollSeconds: number;
  /** This autoscaler (its pod's name): whose clock its lists are dated by. */
  identity: string;
  /** The runner's StatefulSet once a pass has seen it: the Lease's owner. */
  owner: () => LookOwner | undefined;
}

export class SharedJobRequests extends DelegatingAdoClient {
  private readonly ref;
  /** No list read before this is used: the last write, notice or new term. */
  private notBefore: Moment;
  private shared = false;
  private warned = false;

  constructor(
    inner: AdoClient,
    private readonly kube: KubeClient,
    private readonly clock: Clock,
    private readonly log: Log,
    private readonly settings: SharedJobRequestsSettings,
  ) {
    super(inner);
    this.ref = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: settings.namespace, name: sharedLookName(settings.organizationUrl, settings.poolName) };
    this.notBefore = { at: Number.NEGATIVE_INFINITY, by: settings.identity };
  }

  /** Whether the last look took its list from the Lease. */
  override get lastLookShared(): boolean {
    return this.shared;
  }

  /**
   * From now on, only lists read after now: something happened that the next look must see. From the next
   * millisecond: a list read in the same millisecond (a clock's tick, or a simulated one) may have been read before.
   */
  override lookAfresh(): void {
    this.notBefore = { at: this.clock.now() + 1, by: this.settings.identity };
  }

  override async listUnfinishedJobs(poolId: number): Promise<JobRequest[]> {
    const { organizationUrl, identity } = this.settings;
    const lease = await this.readLease();
    const jobs = usable(sharedLookOf(lease, { organizationUrl, poolId })?.jobs, {
      reader: identity, now: this.clock.now(), maxAgeMs: (this.settings.pollSeconds * 1000) / 2, after: this.notBefore,
    });
    this.shared = jobs !== undefined;
    if (jobs !== undefined) return jobs.list;
    const at = this.clock.now();
    const list = await this.inner.listUnfinishedJobs(poolId);
    await this.share(sharedLookWrite(this.ref.name, this.ref.namespace, { organizationUrl, poolId, jobs: { at, by: identity, list } }, lease, this.settings.owner()), lease !== undefined);
    return list;
  }

  // Each write to the pool: the next look must see it in a list read after it.
  override async deleteAgent(poolId: number, agentId: number): Promise<boolean> {
    try {
      return await this.inner.deleteAgent(poolId, agentId);
    } finally {
      this.lookAfresh();
    }
  }

  override async registerAgent(...args: Parameters<AdoClient['registerAgent']>) {
    try {
      return await this.inner.registerAgent(...args);
    } finally {
      this.lookAfresh();
    }
  }

  override async setAgentEnabled(poolId: number, agentId: number, enabled: boolean): Promise<void> {
    try {
      await this.inner.setAgentEnabled(poolId, agentId, enabled);
    } finally {
      this.lookAfresh();
    }
  }

  private async readLease(): Promise<KubeObject | undefined> {
    try {
      return await this.kube.get(this.ref);
    } catch (error) {
      this.cannot('read', error);
      return undefined;
    }
  }

  /** Puts a list on the Lease as read before it; another writer since means no share this time. */
  private async share(write: KubeObject | undefined, exists: boolean): Promise<void> {
    if (write === undefined) return;
    try {
      if (exists) await this.kube.mergePatch(this.ref, { metadata: write.metadata }, scaleFieldManager);
      else await this.kube.create(write, scaleFieldManager);
    } catch (error) {
      // Another autoscaler wrote it first (409: created or changed since), or it was removed (404).
      if (error instanceof KubeApiError && (error.status === 409 || error.status === 404)) return;
      this.cannot('write', error);
    }
  }

  /** A Lease it may not read or write: once, a warning; then each pass reads its own lists, as before. */
  private cannot(what: string, error: unknown): void {
    if (this.warned) return;
    this.warned = true;
    const access = error instanceof KubeApiError && error.status === 403 ? ' (its Role is from an older DeployRunnerPool: deploy again to share)' : '';
    this.log.warning(`Cannot ${what} the Lease ${this.ref.name} on which the namespace's runners of the pool share its job requests${access}; reading them alone. ${(error as Error).message}`);
  }
}
