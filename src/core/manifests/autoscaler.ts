// Pool spec → the in-cluster autoscaler's objects (autoscaling: inCluster): its handshake keys' Secret, its
// ServiceAccount, Role and RoleBinding, and its Deployment. Pure. The autoscaler runs from the pool's own runner image,
// on the agent's Node (its design note: autoscaler/DESIGN.md).
import type { V1Affinity, V1Secret } from '@kubernetes/client-node';
import type { KubeObject } from '../ports/kube.js';
import { leaseName } from '../lease.js';
import { sharedLookName } from '../shared-look.js';
import { maxReplicas, type AutoscalerAntiAffinity, type RunnerPoolSpec } from '../model.js';
import { autoscalerEnvironment, autoscalerKeysDir, autoscalerMetricsPort, autoscalerNoticePort, autoscalerPodIpVariable, autoscalerTokenDir } from '../autoscaler-options.js';
import { autoscalerKeyFiles } from '../handshake-trust.js';
import { dockerModeLabel, poolLabels, type Manifest } from './pool-labels.js';
import { registrationSecretName } from './registration-secret.js';
import { runnerUid } from './runner-pod.js';

/** The autoscaler's name: its Deployment, ServiceAccount, Role and RoleBinding. */
export function autoscalerName(runnerName: string): string {
  return `${runnerName}-autoscaler`;
}

/** Its pods' labels: never the runner pods' selector (app.kubernetes.io/name), which the StatefulSet would adopt. */
function autoscalerLabels(runnerName: string): Record<string, string> {
  return { ...poolLabels(runnerName), 'app.kubernetes.io/name': 'azure-devops-runner-autoscaler', 'app.kubernetes.io/component': 'autoscaler' };
}

/** The labels that select its pods (its Deployment's selector, and the runner pods' handshake policy). */
export function autoscalerSelector(runnerName: string): Record<string, string> {
  return { 'app.kubernetes.io/name': 'azure-devops-runner-autoscaler', 'app.kubernetes.io/instance': runnerName };
}

export const autoscalerKeysSecretName = (runnerName: string) => `${runnerName}-autoscaler-keys`;

/** Its handshake's private keys (src/core/handshake-trust.ts): mounted by its pod alone, never by a runner pod. */
export function renderAutoscalerKeysSecret(spec: RunnerPoolSpec & Required<Pick<RunnerPoolSpec, 'autoscalerKeys'>>): Manifest<V1Secret> {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: autoscalerKeysSecretName(spec.runnerName), namespace: spec.namespace, labels: poolLabels(spec.runnerName) },
    type: 'Opaque',
    stringData: { [autoscalerKeyFiles.signing]: spec.autoscalerKeys.private.signing, [autoscalerKeyFiles.encryption]: spec.autoscalerKeys.private.encryption },
  };
}

/**
 * What the autoscaler may do, and nothing more: read its StatefulSet and set its scale, read the namespace's pods
 * (list and watch cannot be limited by name), label the pool's own pods busy or idle, record on each the agent id it
 * granted and delete one that outlives its job (src/core/single-use.ts; by name, so no other pod), read and record
 * events, and hold its Lease and the one its pool's job requests are shared on (by name). No Secret: the kubelet
 * mounts its PAT, and no runner pod mounts that Secret. Every slot a pool can have, not only those below its
 * maxReplicas: a busy slot stays above a lowered maximum until its job ends, and a pass that may not mark or register
 * it would fail every time.
 */
export function renderAutoscalerAccess(spec: RunnerPoolSpec): KubeObject[] {
  const name = autoscalerName(spec.runnerName);
  const metadata = { name, namespace: spec.namespace, labels: poolLabels(spec.runnerName) };
  const slots = Array.from({ length: maxReplicas }, (_, ordinal) => `${spec.runnerName}-${ordinal}`);
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata, automountServiceAccountToken: false },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata,
      rules: [
        { apiGroups: ['apps'], resources: ['statefulsets'], verbs: ['get'], resourceNames: [spec.runnerName] },
        { apiGroups: ['apps'], resources: ['statefulsets/scale'], verbs: ['get', 'patch'], resourceNames: [spec.runnerName] },
        { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] },
        // Its Lease: one autoscaler acts at a time (src/core/lease.ts). Creating cannot be limited to a name.
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
        // And the Lease on which the namespace's runners of its pool share its job requests (src/core/shared-look.ts).
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'patch'], resourceNames: [leaseName(spec.runnerName), sharedLookName(spec.organizationUrl, spec.poolName)] },
        // Its slots' pods only: marked busy or idle, the agent id granted recorded, and a pod that outlives its job ended.
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'patch', 'delete'], resourceNames: slots },
        // Slots that cannot start (src/core/slot-start.ts): a quota's refusal is only in the StatefulSet's events, and
        // the autoscaler tells them in one of its own. Neither can be limited to a name.
        { apiGroups: [''], resources: ['events'], verbs: ['list', 'create'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace: spec.namespace }],
    },
  ];
}

/**
 * Off the nodes of runner pods, of any pool and namespace, whose jobs can be root on their node: such a job could read
 * the PAT this pod mounts (model.ts AutoscalerAntiAffinity).
 */
function dockerNodeAntiAffinity(mode: AutoscalerAntiAffinity): V1Affinity | undefined {
  const term = {
    labelSelector: { matchExpressions: [{ key: dockerModeLabel, operator: 'In', values: ['hostSocket', 'dind', 'buildah'] }] },
    namespaceSelector: {},
    topologyKey: 'kubernetes.io/hostname',
  };
  switch (mode) {
    case 'none':
      return undefined;
    case 'preferred':
      return { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term }] } };
    case 'required':
      return { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term] } };
  }
}

/** How long its pod has to stop: it ends after the step it is in and gives its lease up. */
export const autoscalerGraceSeconds = 30;

/**
 * One autoscaler per pool. `Recreate`: never two at once, so the replica count has one owner even during an update.
 * Non-root, read-only root file system, no privilege; the PAT in a Secret volume that only this pod mounts.
 */
export function renderAutoscalerDeployment(spec: RunnerPoolSpec): KubeObject {
  const name = autoscalerName(spec.runnerName);
  const labels = autoscalerLabels(spec.runnerName);
  const selector = autoscalerSelector(spec.runnerName);
  // Liveness: its loop turns (a wedged loop is restarted, an outage of Azure DevOps is not); readiness: Azure DevOps
  // answers (src/clients/autoscaler-metrics.ts).
  const probe = (path: string) => ({ httpGet: { path, port: 'metrics' }, periodSeconds: 10, timeoutSeconds: 3 });
  const affinity = dockerNodeAntiAffinity(spec.autoscalerAntiAffinity ?? 'preferred');
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: spec.namespace, labels },
    spec: {
      replicas: 1,
      strategy: { type: 'Recreate' },
      selector: { matchLabels: selector },
      template: {
        metadata: {
          labels,
          annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(autoscalerMetricsPort), 'prometheus.io/path': '/metrics' },
        },
        spec: {
          serviceAccountName: name,
          // Its own token only; the ServiceAccount mounts none anywhere else.
          automountServiceAccountToken: true,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: autoscalerGraceSeconds,
          securityContext: { runAsNonRoot: true, runAsUser: runnerUid, runAsGroup: runnerUid, fsGroup: runnerUid, seccompProfile: { type: 'RuntimeDefault' } },
          ...(spec.imagePullSecret && { imagePullSecrets: [{ name: spec.imagePullSecret }] }),
          ...(Object.keys(spec.nodeSelector).length > 0 && { nodeSelector: spec.nodeSelector }),
          ...(spec.tolerations.length > 0 && { tolerations: spec.tolerations }),
          ...(affinity && { affinity }),
          containers: [
            {
              name: 'autoscaler',
              image: spec.image,
              args: ['autoscaler'],
              env: [
                ...Object.entries(autoscalerEnvironment(spec)).map(([envName, value]) => ({ name: envName, value })),
                // Its notice address, which it signs into every grant (src/core/job-notice.ts).
                { name: autoscalerPodIpVariable, valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
              ],
              ports: [{ name: 'metrics', containerPort: autoscalerMetricsPort }, { name: 'notices', containerPort: autoscalerNoticePort }],
              readinessProbe: probe('/readyz'),
              livenessProbe: { ...probe('/healthz'), failureThreshold: 6 },
              resources: { requests: { cpu: '20m', memory: '64Mi' }, limits: { memory: '256Mi' } },
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true },
              volumeMounts: [
                { name: 'token', mountPath: autoscalerTokenDir, readOnly: true },
                { name: 'keys', mountPath: autoscalerKeysDir, readOnly: true },
                { name: 'tmp', mountPath: '/tmp' },
              ],
            },
          ],
          volumes: [
            { name: 'token', secret: { secretName: registrationSecretName(spec), defaultMode: 0o440, items: [{ key: 'token', path: 'token' }] } },
            { name: 'keys', secret: { secretName: autoscalerKeysSecretName(spec.runnerName), defaultMode: 0o440 } },
            { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } },
          ],
        },
      },
    },
  };
}
