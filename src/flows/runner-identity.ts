// Which runner a command means and who it is (src/core/runner-identity.ts): its name, when none is given, its
// cluster's identity, read once by the deploy that makes the runner and recorded on its StatefulSet, and the
// registrations its autoscaler recorded on its pods.
import { KubeApiError, type KubeClient, type KubeObject } from '../core/ports/kube.js';
import { clusterRunnerName, defaultNamedRunner, recordedIdentity, type RunnerIdentity } from '../core/runner-identity.js';
import { poolLabelSelector } from '../core/manifests/index.js';
import { recordedAgentIds } from '../core/single-use.js';

/**
 * The cluster's identity: the UID of its kube-system namespace, as OpenTelemetry's k8s.cluster.uid, which lives as
 * long as the cluster. A deployer limited to its namespace (configs/deployer-rbac.yaml) may not read a namespace
 * object: it takes the UID of its namespace's `default` ServiceAccount, which the cluster makes in every namespace,
 * as unique, and readable with the Role's own permissions. Either is recorded on the StatefulSet the first time, so
 * a later deploy with other permissions keeps it.
 */
export async function readClusterIdentity(kube: KubeClient, namespace: string): Promise<string> {
  const uidOf = async (ref: Parameters<KubeClient['get']>[0]) => {
    try {
      return (await kube.get(ref))?.metadata.uid;
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 403) return undefined;
      throw error;
    }
  };
  const uid = (await uidOf({ apiVersion: 'v1', kind: 'Namespace', name: 'kube-system' }))
    ?? (await uidOf({ apiVersion: 'v1', kind: 'ServiceAccount', namespace, name: 'default' }));
  if (uid === undefined) {
    throw new Error(`Cannot tell this cluster from another: neither the kube-system namespace nor the ServiceAccount '${namespace}/default' can be read. Grant 'get' on one of them (configs/deployer-rbac.yaml).`);
  }
  return uid;
}

export interface RunnerRef {
  namespace: string;
  poolName: string;
  /** None: the pool's runner that DeployRunnerPool named by default in the namespace. */
  runnerName?: string;
}

/** The StatefulSet of the runner `ref` means, when it exists. */
export async function findStatefulSet(kube: KubeClient, ref: RunnerRef): Promise<KubeObject | undefined> {
  const { namespace, poolName, runnerName } = ref;
  if (runnerName !== undefined) return kube.get({ apiVersion: 'apps/v1', kind: 'StatefulSet', namespace, name: runnerName });
  return defaultNamedRunner(poolName, await kube.list('apps/v1', 'StatefulSet', namespace, 'app.kubernetes.io/managed-by=azure-devops-runner'));
}

export interface FoundRunner {
  identity: RunnerIdentity & { cluster: string };
  /** Its StatefulSet, when it exists. */
  statefulSet?: KubeObject;
}

/** The runner `ref` means (a new one, named by default: from the pool and its cluster's identity), and its identity. */
export async function findRunner(kube: KubeClient, ref: RunnerRef): Promise<FoundRunner> {
  const statefulSet = await findStatefulSet(kube, ref);
  const cluster = (statefulSet && recordedIdentity(statefulSet).cluster) ?? (await readClusterIdentity(kube, ref.namespace));
  const runnerName = ref.runnerName ?? statefulSet?.metadata.name ?? clusterRunnerName(ref.poolName, cluster, ref.namespace);
  return { identity: { runnerName, namespace: ref.namespace, cluster }, statefulSet };
}

/**
 * Adds to `granted` the agent ids its autoscaler recorded on the runner's slot pods (src/core/single-use.ts): its own
 * registrations whatever their sessions claim. Kept once seen, as a pod that goes takes its record with it, not its
 * registration; read before the agents, as a pod's record comes before its grant.
 */
export async function noteRecordedGrants(kube: KubeClient, statefulSet: KubeObject | undefined, granted: Set<number>): Promise<void> {
  if (statefulSet === undefined) return;
  const { name, namespace, uid } = statefulSet.metadata;
  const pods = await kube.list('v1', 'Pod', namespace ?? '', poolLabelSelector(name));
  for (const id of recordedAgentIds({ runnerName: name, statefulSetUid: uid }, pods)) granted.add(id);
}
