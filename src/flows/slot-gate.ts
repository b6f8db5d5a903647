// Lifts the slot-wanted scheduling gate of the pods the autoscaler wants running (the rule: src/core/slot-gate.ts).
import type { Log } from '../core/ports/host.js';
import { replacedSince, type KubeClient } from '../core/ports/kube.js';
import type { Ungate } from '../core/slot-gate.js';

/**
 * Removes the gate from each pod, that incarnation only (its UID a precondition), keeping any other controller's gates.
 * A pod gone or replaced since the look is skipped: its slot's next pod comes gated, so the caller keeps the slot
 * wanted (PassState.pendingStarts); the skipped ones are what it returns.
 */
export async function liftGates(kube: KubeClient, namespace: string, pods: Ungate[], fieldManager: string, log: Log, beforeWrite?: () => Promise<void>): Promise<Ungate[]> {
  const lifted: string[] = [];
  const skipped: Ungate[] = [];
  for (const pod of pods) {
    await beforeWrite?.();
    try {
      await kube.mergePatch({ apiVersion: 'v1', kind: 'Pod', namespace, name: pod.name }, { metadata: { uid: pod.uid }, spec: { schedulingGates: pod.keep } }, fieldManager);
      lifted.push(pod.name);
    } catch (error) {
      if (!replacedSince(error)) throw error;
      skipped.push(pod);
    }
  }
  if (lifted.length > 0) log.info(`Started ${lifted.join(', ')}: lifted the scheduling gate of ${lifted.length === 1 ? 'a slot' : 'slots'} wanted running.`);
  return skipped;
}
