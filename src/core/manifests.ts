// Pool spec → the Kubernetes objects of a runner pool. Pure: the same spec always renders the same objects.
import type { KubeObject } from './ports/kube.js';
import { maxReplicas, type RunnerPoolSpec } from './model.js';
import { renderEgressPolicy } from './network-policy.js';

/** How long a runner pod may take to stop once deleted. */
export const terminationGraceSeconds = 60;

/** Labels every object of a pool carries; the selector uses the first two. */
export function poolLabels(runnerName: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'azure-devops-runner',
    'app.kubernetes.io/instance': runnerName,
    'app.kubernetes.io/managed-by': 'azure-devops-runner',
  };
}

export const selectorKeys = ['app.kubernetes.io/name', 'app.kubernetes.io/instance'] as const;

/** Set by ScaleRunnerPool on pods whose agent runs a job; the pool's PodDisruptionBudget protects them. */
export const busyLabel = 'azure-devops-runner/busy';

export const annotations = {
  pool: 'azure-devops-runner/pool',
  organization: 'azure-devops-runner/organization',
  safeToEvict: 'cluster-autoscaler.kubernetes.io/safe-to-evict',
} as const;

/** The environment variables through which a pod's identity reaches Azure DevOps as agent capabilities. */
export const identityVariables = {
  podName: 'RUNNER_POD_NAME',
  podUid: 'RUNNER_POD_UID',
  nodeName: 'RUNNER_NODE_NAME',
  namespace: 'RUNNER_NAMESPACE',
  image: 'RUNNER_IMAGE',
  runnerName: 'RUNNER_NAME',
} as const;

// The runner image's user (images/linux/Dockerfile).
export const runnerUid = 10001;
const configDir = '/azp/config';
const workDir = '/azp/work';
const secretDir = '/azp/secret';
// Sidecar recycling: the agent leaves a file here after its job; the sidecar, alone with the token, deletes the pod.
const recycleDir = '/azp/recycle';
const recycleCredentialDir = '/var/run/secrets/azure-devops-runner';
const recycleDirEnv = { name: 'AZP_RECYCLE_DIR', value: recycleDir };

export function registrationSecretName(spec: RunnerPoolSpec): string {
  return spec.credential.kind === 'existingSecret' ? spec.credential.secretName : `${spec.runnerName}-registration`;
}

/** The Secret holding the registration credential, or undefined when the user brings an existing one. */
export function renderRegistrationSecret(spec: RunnerPoolSpec): KubeObject | undefined {
  const { credential } = spec;
  if (credential.kind === 'existingSecret') return undefined;
  const stringData =
    credential.kind === 'pat'
      ? { token: credential.token }
      : { clientId: credential.clientId, tenantId: credential.tenantId, clientSecret: credential.clientSecret };
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: registrationSecretName(spec), namespace: spec.namespace, labels: poolLabels(spec.runnerName) },
    type: 'Opaque',
    stringData,
  };
}

const fieldEnv = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { fieldPath } } });

/** The ServiceAccount (and Role) of the recycle sidecar. */
function recyclerName(spec: RunnerPoolSpec): string {
  return `${spec.runnerName}-recycler`;
}

/**
 * What the recycle sidecar may do: delete the pool's own pods, by name, and nothing else. The ServiceAccount mounts no
 * token anywhere; the pod asks for a short-lived one in the sidecar's projected volume only.
 */
export function renderRecycleAccess(spec: RunnerPoolSpec): KubeObject[] {
  const metadata = { name: recyclerName(spec), namespace: spec.namespace, labels: poolLabels(spec.runnerName) };
  const slots = Array.from({ length: maxReplicas }, (_, ordinal) => `${spec.runnerName}-${ordinal}`);
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata, automountServiceAccountToken: false },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata,
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['delete'], resourceNames: slots }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: metadata.name },
      subjects: [{ kind: 'ServiceAccount', name: metadata.name, namespace: spec.namespace }],
    },
  ];
}
const dropAll = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };

export function renderStatefulSet(spec: RunnerPoolSpec): KubeObject {
  const labels = poolLabels(spec.runnerName);
  const selector = Object.fromEntries(selectorKeys.map((key) => [key, labels[key]]));
  const common = [
    { name: 'AZP_URL', value: spec.organizationUrl },
    { name: 'AZP_POOL', value: spec.poolName },
    fieldEnv('AZP_AGENT_NAME', 'metadata.name'),
    { name: 'AZP_CONFIG_DIR', value: configDir },
    // The work folder is part of the registration (config.sh --work), so both steps name it.
    { name: 'AZP_WORK', value: workDir },
  ];
  // Only the register step sees the credential: as files of the Secret, mounted into that container alone.
  const credentialEnv =
    spec.credential.kind === 'pat'
      ? [{ name: 'AZP_TOKEN_FILE', value: `${secretDir}/token` }]
      : spec.credential.kind === 'servicePrincipal'
        ? [
            { name: 'AZP_CLIENT_ID', valueFrom: { secretKeyRef: { name: registrationSecretName(spec), key: 'clientId' } } },
            { name: 'AZP_TENANT_ID', valueFrom: { secretKeyRef: { name: registrationSecretName(spec), key: 'tenantId' } } },
            { name: 'AZP_CLIENT_SECRET_FILE', value: `${secretDir}/clientSecret` },
          ]
        : // An existing Secret holds a PAT under `token`.
          [{ name: 'AZP_TOKEN_FILE', value: `${secretDir}/token` }];
  const resources = {
    ...((spec.resources.cpuRequest ?? spec.resources.memoryRequest) && {
      requests: { ...(spec.resources.cpuRequest && { cpu: spec.resources.cpuRequest }), ...(spec.resources.memoryRequest && { memory: spec.resources.memoryRequest }) },
    }),
    ...((spec.resources.cpuLimit ?? spec.resources.memoryLimit) && {
      limits: { ...(spec.resources.cpuLimit && { cpu: spec.resources.cpuLimit }), ...(spec.resources.memoryLimit && { memory: spec.resources.memoryLimit }) },
    }),
  };
  const dind = spec.dockerMode === 'dind';
  const hostSocket = spec.dockerMode === 'hostSocket';
  const sidecar = spec.podRecycling === 'sidecar';
  const agentEnv = [
    ...common,
    fieldEnv(identityVariables.podName, 'metadata.name'),
    fieldEnv(identityVariables.podUid, 'metadata.uid'),
    fieldEnv(identityVariables.nodeName, 'spec.nodeName'),
    fieldEnv(identityVariables.namespace, 'metadata.namespace'),
    { name: identityVariables.image, value: spec.image },
    { name: identityVariables.runnerName, value: spec.runnerName },
    ...(dind ? [{ name: 'DOCKER_HOST', value: 'tcp://127.0.0.1:2375' }] : []),
    ...(sidecar ? [recycleDirEnv] : []),
    ...Object.entries(spec.env).map(([name, value]) => ({ name, value })),
  ];
  const volumes: object[] = [
    { name: 'config', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } },
    { name: 'work', emptyDir: spec.workVolumeSize ? { sizeLimit: spec.workVolumeSize } : {} },
    { name: 'registration', secret: { secretName: registrationSecretName(spec), defaultMode: 0o440 } },
    ...(hostSocket ? [{ name: 'docker-socket', hostPath: { path: '/var/run/docker.sock', type: 'Socket' } }] : []),
    ...(sidecar
      ? [
          { name: 'recycle', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
          {
            name: 'recycle-credential',
            projected: {
              defaultMode: 0o440,
              sources: [
                { serviceAccountToken: { path: 'token', expirationSeconds: 600 } },
                { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
              ],
            },
          },
        ]
      : []),
  ];
  const initContainers: object[] = [
    {
      name: 'register',
      image: spec.image,
      args: ['register'],
      env: [...common, ...credentialEnv],
      volumeMounts: [
        { name: 'config', mountPath: configDir },
        { name: 'registration', mountPath: secretDir, readOnly: true },
      ],
      securityContext: dropAll,
    },
  ];
  if (sidecar) {
    // A native sidecar, the only container with a Kubernetes credential: when the agent says its job is done, it
    // deletes this pod (by UID, never a successor) and the StatefulSet creates a fresh one.
    initContainers.push({
      name: 'recycle',
      image: spec.image,
      args: ['recycle'],
      restartPolicy: 'Always',
      env: [
        fieldEnv(identityVariables.podName, 'metadata.name'),
        fieldEnv(identityVariables.podUid, 'metadata.uid'),
        fieldEnv(identityVariables.namespace, 'metadata.namespace'),
        recycleDirEnv,
        { name: 'AZP_RECYCLE_CREDENTIAL_DIR', value: recycleCredentialDir },
      ],
      volumeMounts: [
        { name: 'recycle', mountPath: recycleDir },
        { name: 'recycle-credential', mountPath: recycleCredentialDir, readOnly: true },
      ],
      resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '64Mi' } },
      securityContext: dropAll,
    });
  }
  if (dind) {
    // A native sidecar: it stops when the agent exits, so the pod still completes after one job.
    initContainers.push({
      name: 'docker',
      image: 'docker:28-dind',
      restartPolicy: 'Always',
      env: [{ name: 'DOCKER_TLS_CERTDIR', value: '' }],
      args: ['--host=tcp://127.0.0.1:2375'],
      securityContext: { privileged: true, runAsUser: 0, runAsNonRoot: false },
      volumeMounts: [{ name: 'work', mountPath: workDir }],
    });
  }
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: {
      name: spec.runnerName,
      namespace: spec.namespace,
      labels,
      annotations: { [annotations.pool]: spec.poolName, [annotations.organization]: spec.organizationUrl },
    },
    spec: {
      replicas: spec.replicas,
      serviceName: spec.runnerName,
      // Parallel: one slot in back-off must not stall the others; OnDelete: a new template never kills a running job,
      // each slot takes it when its pod is replaced after the next job.
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'OnDelete' },
      selector: { matchLabels: selector },
      template: {
        metadata: { labels, annotations: { [annotations.safeToEvict]: 'false' } },
        spec: {
          automountServiceAccountToken: false,
          ...(sidecar && { serviceAccountName: recyclerName(spec) }),
          enableServiceLinks: false,
          terminationGracePeriodSeconds: terminationGraceSeconds,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: runnerUid,
            runAsGroup: runnerUid,
            fsGroup: runnerUid,
            seccompProfile: { type: 'RuntimeDefault' },
            ...(hostSocket && spec.dockerSocketGroupId !== undefined && { supplementalGroups: [spec.dockerSocketGroupId] }),
          },
          ...(spec.imagePullSecret && { imagePullSecrets: [{ name: spec.imagePullSecret }] }),
          ...(Object.keys(spec.nodeSelector).length > 0 && { nodeSelector: spec.nodeSelector }),
          ...(spec.tolerations.length > 0 && { tolerations: spec.tolerations }),
          initContainers,
          containers: [
            {
              name: 'agent',
              image: spec.image,
              args: ['run'],
              env: agentEnv,
              // Exit 0 after one job ends the pod, and the StatefulSet creates a fresh one (Kubernetes ≥ 1.35);
              // any other exit is a broken setup: restart in place with the kubelet's back-off. With the sidecar,
              // the agent waits for the sidecar to delete the pod instead of exiting.
              ...(!sidecar && {
                restartPolicy: 'Never',
                restartPolicyRules: [{ action: 'Restart', exitCodes: { operator: 'NotIn', values: [0] } }],
              }),
              volumeMounts: [
                { name: 'config', mountPath: configDir },
                { name: 'work', mountPath: workDir },
                ...(sidecar ? [{ name: 'recycle', mountPath: recycleDir }] : []),
                ...(hostSocket ? [{ name: 'docker-socket', mountPath: '/var/run/docker.sock' }] : []),
              ],
              ...(Object.keys(resources).length > 0 && { resources }),
              securityContext: dropAll,
            },
          ],
          volumes,
        },
      },
    },
  };
}

/** Node drains may not evict a pod that ScaleRunnerPool has labelled busy (its agent is running a job). */
export function renderDisruptionBudget(spec: RunnerPoolSpec): KubeObject {
  const labels = poolLabels(spec.runnerName);
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: `${spec.runnerName}-busy`, namespace: spec.namespace, labels },
    spec: {
      maxUnavailable: 0,
      selector: { matchLabels: { ...Object.fromEntries(selectorKeys.map((key) => [key, labels[key]])), [busyLabel]: 'true' } },
    },
  };
}

/** Every object of the pool, in apply order. */
export function renderRunnerPool(spec: RunnerPoolSpec): KubeObject[] {
  const secret = renderRegistrationSecret(spec);
  const access = spec.podRecycling === 'sidecar' ? renderRecycleAccess(spec) : [];
  const labels = poolLabels(spec.runnerName);
  const egress = spec.restrictEgress === false ? [] : [renderEgressPolicy(spec, Object.fromEntries(selectorKeys.map((key) => [key, labels[key]])), labels)];
  return [...(secret ? [secret] : []), ...access, ...egress, renderDisruptionBudget(spec), renderStatefulSet(spec)];
}

/** True when the server kept the container restart rules that give every job a fresh pod (Kubernetes >= 1.35). */
export function keepsRestartRules(stored: KubeObject): boolean {
  const containers = (stored as { spec?: { template?: { spec?: { containers?: Array<{ name: string; restartPolicyRules?: unknown[] }> } } } }).spec?.template?.spec?.containers;
  return containers?.find((c) => c.name === 'agent')?.restartPolicyRules !== undefined;
}
