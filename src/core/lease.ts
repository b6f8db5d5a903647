// One autoscaler acts for a runner at a time: a coordination.k8s.io Lease `<runner>-autoscaler`. The Deployment's
// Recreate strategy only orders rollouts; an eviction, a node that stops answering or a `kubectl` by hand can leave two
// autoscaler pods running, and two loops lowering `replicas` from different looks can remove a busy slot.
//
// The rules, as client-go's leader election has them: the holder renews the Lease every `renewSeconds`; another takes
// it over only once `renewTime + leaseDurationSeconds` has passed without a renewal; every write of the Lease carries
// the resourceVersion it read, so of two that try at once one gets a conflict. A holder that could not renew within
// the lease's duration (less a margin for clock skew) stops acting before anyone may take over.
import type { KubeObject } from './ports/kube.js';
import { slotWantedGate } from './manifests/pool-labels.js';

export const leaseDurationSeconds = 15;
/** How often the holder renews: three renewals fit in a lease's duration. */
export const renewSeconds = 5;
/** A holder stops acting this long before its lease could be taken over: clocks of two nodes may disagree a little. */
const skewMarginSeconds = 2;

export const leaseName = (runnerName: string): string => `${runnerName}-autoscaler`;

/**
 * On the Lease, at every write: the scheduling gate its holder lifts (src/core/slot-gate.ts). The gate is rendered by
 * DeployRunnerPool, the autoscaler that lifts it comes with the runner image: an image built before the gate would
 * leave every pod Pending, and DeployRunnerPool reads this to say so (deploy-pool.ts, waitForAutoscaler).
 */
export const liftsGateAnnotation = 'azure-devops-runner/lifts-gate';

/** Whether the Lease's holder announced that it lifts the gate this release renders. */
export function holderLiftsGate(lease: KubeObject): boolean {
  return lease.metadata.annotations?.[liftsGateAnnotation] === slotWantedGate;
}

export function leaseHolder(lease: KubeObject | undefined): string | undefined {
  return ((lease?.spec ?? {}) as LeaseSpec).holderIdentity;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

/** What to do about the Lease now, from one look at it. */
export type LeaseStep =
  | { kind: 'create' }
  | { kind: 'renew'; resourceVersion: string }
  | { kind: 'takeOver'; resourceVersion: string; transitions: number }
  | { kind: 'wait'; holder: string; until: number };

export function leaseStep(lease: KubeObject | undefined, identity: string, now: number): LeaseStep {
  if (lease === undefined) return { kind: 'create' };
  const spec = (lease.spec ?? {}) as LeaseSpec;
  const resourceVersion = lease.metadata.resourceVersion ?? '';
  if (spec.holderIdentity === identity) return { kind: 'renew', resourceVersion };
  const renewed = Date.parse(spec.renewTime ?? spec.acquireTime ?? '');
  const until = (Number.isNaN(renewed) ? 0 : renewed) + (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
  if (!spec.holderIdentity || now >= until) return { kind: 'takeOver', resourceVersion, transitions: (spec.leaseTransitions ?? 0) + 1 };
  return { kind: 'wait', holder: spec.holderIdentity, until };
}

/** The Lease this autoscaler writes for a step (a merge patch for renew and take-over, the whole object to create). */
export function leaseWrite(step: Exclude<LeaseStep, { kind: 'wait' }>, namespace: string, runnerName: string, identity: string, now: number): KubeObject {
  const time = new Date(now).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
  const spec: LeaseSpec = step.kind === 'renew'
    ? { renewTime: time }
    : { holderIdentity: identity, leaseDurationSeconds, acquireTime: time, renewTime: time, leaseTransitions: step.kind === 'takeOver' ? step.transitions : 0 };
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: leaseName(runnerName), namespace, annotations: { [liftsGateAnnotation]: slotWantedGate },
      ...(step.kind !== 'create' && { resourceVersion: step.resourceVersion }),
    },
    spec,
  };
}

/** Until when a holder that renewed at `renewedAt` may act: before anyone else could take the lease over. */
export function actsUntil(renewedAt: number): number {
  return renewedAt + (leaseDurationSeconds - skewMarginSeconds) * 1000;
}
