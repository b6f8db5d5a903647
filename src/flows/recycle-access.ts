// The recycle sidecar's ServiceAccount, Role and RoleBinding after a pool moves to restart rules: kept while any pod
// of the old template runs, since its sidecar deletes its own pod with that identity after the job; removed once
// none is left (by this run or a later one).
import type { TaskHost } from '../core/ports/host.js';
import type { KubeClient } from '../core/ports/kube.js';
import type { RunnerPoolSpec } from '../core/model.js';
import { poolLabelSelector, recyclerName, renderRecycleAccess } from '../core/manifests/index.js';

export async function removeRecycleAccessWhenUnused(kube: KubeClient, pool: RunnerPoolSpec, host: TaskHost): Promise<void> {
  const access = renderRecycleAccess(pool);
  const refs = access.map((object) => ({ apiVersion: object.apiVersion, kind: object.kind, namespace: pool.namespace, name: object.metadata.name }));
  const present = [];
  for (const ref of refs) if (await kube.get(ref)) present.push(ref);
  if (present.length === 0) return;
  // A pod on its way out has done its sidecar's work; any other pod running as the recycler still needs it.
  const serviceAccount = recyclerName(pool);
  const users = (await kube.list('v1', 'Pod', pool.namespace, poolLabelSelector(pool.runnerName)))
    .filter((pod) => (pod.spec as { serviceAccountName?: string } | undefined)?.serviceAccountName === serviceAccount && pod.metadata.deletionTimestamp === undefined);
  if (users.length > 0) {
    host.info(`Kept the recycle sidecar's ServiceAccount, Role and RoleBinding: ${users.map((pod) => pod.metadata.name).join(', ')} still run(s) the previous template, whose sidecar needs them after its job. A later run removes them.`);
    return;
  }
  for (const ref of present.reverse()) await kube.delete(ref);
  host.info(`Removed the recycle sidecar's ServiceAccount, Role and RoleBinding: restart rules replace each pod now.`);
}
