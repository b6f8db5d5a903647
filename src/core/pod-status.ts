// What a runner pod's Kubernetes status says, reduced to what the tasks and the hub show.
import type { KubeObject } from './ports/kube.js';
import type { PodSummary } from './model.js';
import { markdownTable } from './log-text.js';
import { annotations } from './manifests/pool-labels.js';
import { isGated } from './slot-gate.js';

export type { PodSummary };

interface PodShape {
  spec?: { nodeName?: string; containers?: Array<{ name: string; image: string }> };
  status?: {
    phase?: string;
    conditions?: Array<{ type: string; status: string }>;
    containerStatuses?: Array<{ name: string; restartCount: number; state?: { waiting?: { reason?: string } } }>;
    initContainerStatuses?: Array<{ name: string; restartCount: number; state?: { waiting?: { reason?: string } } }>;
  };
}

export function summarizePod(pod: KubeObject): PodSummary {
  const { spec, status } = pod as unknown as PodShape;
  const containers = [...(status?.initContainerStatuses ?? []), ...(status?.containerStatuses ?? [])];
  return {
    name: pod.metadata.name,
    uid: pod.metadata.uid ?? '',
    phase: status?.phase ?? 'Unknown',
    ready: status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    restarts: containers.reduce((sum, c) => sum + c.restartCount, 0),
    node: spec?.nodeName,
    image: spec?.containers?.find((c) => c.name === 'agent')?.image,
    revision: pod.metadata.labels?.['controller-revision-hash'],
    createdAt: pod.metadata.creationTimestamp,
    deleting: pod.metadata.deletionTimestamp !== undefined,
    ...(pod.metadata.annotations?.[annotations.draining] === 'true' && { draining: true }),
    ...(isGated(pod) && { gated: true }),
    waitingReason: containers.map((c) => c.state?.waiting?.reason).find((r) => r !== undefined && r !== 'PodInitializing'),
  };
}

/** A markdown table of pods, for job summaries. */
export function podTable(pods: PodSummary[]): string {
  const why = (p: PodSummary) => p.waitingReason ?? (p.gated ? 'parked: starts when a job needs it' : undefined);
  const rows = pods.map((p) => [p.name, `${p.phase}${why(p) ? ` (${why(p)})` : ''}`, p.ready ? 'yes' : 'no', String(p.restarts), p.node ?? '', p.image ?? '']);
  return markdownTable(['pod', 'phase', 'ready', 'restarts', 'node', 'image'], rows);
}
