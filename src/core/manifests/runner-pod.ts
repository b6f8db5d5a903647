// A runner slot's pod, piece by piece: the register step, the agent, the recycle and Docker sidecars, the volumes and
// the pod's security context. Each piece reads the spec for what it needs; the optional parts appear only when asked.
import type {
  V1Container,
  V1EnvVar,
  V1PodSecurityContext,
  V1PodSpec,
  V1ResourceRequirements,
  V1SecurityContext,
  V1Volume,
} from '@kubernetes/client-node';
import { defaultDindImage, type ResourceSettings, type RunnerPoolSpec } from '../model.js';
import { identityVariables } from './pool-labels.js';
import { registrationSecretName } from './registration-secret.js';
import { recyclerName } from './recycle-access.js';
import { handshakePort } from '../registration.js';
import { autoscalerKeyVariables } from '../handshake-trust.js';

/** start.sh's exit code for a failure before the agent ran (EX_CONFIG): the only one that restarts it in its pod. */
export const beforeAgentFailure = 78;

/** How long a runner pod may take to stop once deleted. */
export const terminationGraceSeconds = 60;

// The runner image's user (images/linux/Dockerfile).
export const runnerUid = 10001;
const configDir = '/azp/config';
const workDir = '/azp/work';
const secretDir = '/azp/secret';
// Sidecar recycling: the agent leaves a file here after its job; the sidecar, alone with the token, deletes the pod.
const recycleDir = '/azp/recycle';
const recycleCredentialDir = '/var/run/secrets/azure-devops-runner';
const recycleDirEnv: V1EnvVar = { name: 'AZP_RECYCLE_DIR', value: recycleDir };
const dockerSocket = '/var/run/docker.sock';
// dind: the sidecar's engine listens on the pod's loopback only, out of reach of other pods and of the node.
const dockerHost = 'tcp://127.0.0.1:2375';
// hostSocket: the agent reaches the node's engine through the docker sidecar's socket in this volume.
const dockerProxyDir = '/azp/docker';
const dockerProxySocket = `${dockerProxyDir}/docker.sock`;

const dropAll: V1SecurityContext = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };

const fieldEnv = (name: string, fieldPath: string): V1EnvVar => ({ name, valueFrom: { fieldRef: { fieldPath } } });
const secretEnv = (spec: RunnerPoolSpec, name: string, key: string): V1EnvVar => ({
  name,
  valueFrom: { secretKeyRef: { name: registrationSecretName(spec), key } },
});

const usesRecycleSidecar = (spec: RunnerPoolSpec): boolean => spec.podRecycling === 'sidecar';
/** With the in-cluster autoscaler, it registers each pod's agent (src/core/registration.ts): no register step, no credential. */
const registeredByAutoscaler = (spec: RunnerPoolSpec): boolean => spec.autoscaler !== undefined;

/** What both the register step and the agent need to find their pool and their registration. */
function registrationEnv(spec: RunnerPoolSpec): V1EnvVar[] {
  return [
    { name: 'AZP_URL', value: spec.organizationUrl },
    { name: 'AZP_POOL', value: spec.poolName },
    fieldEnv('AZP_AGENT_NAME', 'metadata.name'),
    { name: 'AZP_CONFIG_DIR', value: configDir },
    // The work folder is part of the registration (config.sh --work), so both steps name it.
    { name: 'AZP_WORK', value: workDir },
  ];
}

/** Where the register step finds the credential: files of the Secret, and a service principal's ids as variables. */
function credentialEnv(spec: RunnerPoolSpec): V1EnvVar[] {
  switch (spec.credential.kind) {
    case 'servicePrincipal':
      return [
        secretEnv(spec, 'AZP_CLIENT_ID', 'clientId'),
        secretEnv(spec, 'AZP_TENANT_ID', 'tenantId'),
        { name: 'AZP_CLIENT_SECRET_FILE', value: `${secretDir}/clientSecret` },
      ];
    case 'pat':
    case 'existingSecret': // an existing Secret holds a PAT under `token`
      return [{ name: 'AZP_TOKEN_FILE', value: `${secretDir}/token` }];
  }
}

/** Only the register step sees the credential: the Secret is mounted into this container alone. */
export function registerStep(spec: RunnerPoolSpec): V1Container {
  return {
    name: 'register',
    image: spec.image,
    args: ['register'],
    env: [...registrationEnv(spec), ...credentialEnv(spec)],
    volumeMounts: [
      { name: 'config', mountPath: configDir },
      { name: 'registration', mountPath: secretDir, readOnly: true },
    ],
    securityContext: dropAll,
  };
}

/** Requests and limits from the pool's settings, or undefined when it sets none. */
function agentResources({ cpuRequest, memoryRequest, cpuLimit, memoryLimit }: ResourceSettings): V1ResourceRequirements | undefined {
  const quantities = (cpu?: string, memory?: string) =>
    cpu || memory ? { ...(cpu && { cpu }), ...(memory && { memory }) } : undefined;
  const requests = quantities(cpuRequest, memoryRequest);
  const limits = quantities(cpuLimit, memoryLimit);
  return requests || limits ? { ...(requests && { requests }), ...(limits && { limits }) } : undefined;
}

/** Where the job's Docker (or buildah) finds its engine, or how buildah works without one. */
function dockerEnv(spec: RunnerPoolSpec): V1EnvVar[] {
  switch (spec.dockerMode) {
    case 'none':
      return [];
    case 'hostSocket':
      return [{ name: 'DOCKER_HOST', value: `unix://${dockerProxySocket}` }];
    case 'dind':
      return [{ name: 'DOCKER_HOST', value: dockerHost }];
    case 'buildah':
      // Rootless buildah in an unprivileged container: no OCI runtime, no overlay mounts (docker/README.md).
      return [{ name: 'BUILDAH_ISOLATION', value: 'chroot' }, { name: 'STORAGE_DRIVER', value: 'vfs' }];
  }
}

/**
 * buildah: what rootless buildah needs beyond the other containers' dropAll, measured on the test cluster
 * (docker/README.md): newuidmap/newgidmap (file capabilities) may raise SETUID/SETGID to map the image's users into
 * a user namespace, and a seccomp filter that allows unshare, mount, umount2 and chroot.
 */
function agentSecurityContext(spec: RunnerPoolSpec): V1SecurityContext {
  if (spec.dockerMode !== 'buildah') return dropAll;
  return {
    allowPrivilegeEscalation: true,
    capabilities: { drop: ['ALL'], add: ['SETUID', 'SETGID'] },
    seccompProfile: spec.buildahSeccompProfile ?? { type: 'Unconfined' },
  };
}

/** The autoscaler's public keys: the pod seals its request to one and takes only grants signed by the other. */
function autoscalerKeyEnv({ autoscalerKeys }: RunnerPoolSpec): V1EnvVar[] {
  if (autoscalerKeys === undefined) return [];
  return [
    { name: autoscalerKeyVariables.signing, value: autoscalerKeys.public.signing },
    { name: autoscalerKeyVariables.encryption, value: autoscalerKeys.public.encryption },
  ];
}

function agentEnv(spec: RunnerPoolSpec): V1EnvVar[] {
  return [
    ...registrationEnv(spec),
    fieldEnv(identityVariables.podName, 'metadata.name'),
    fieldEnv(identityVariables.podUid, 'metadata.uid'),
    fieldEnv(identityVariables.nodeName, 'spec.nodeName'),
    fieldEnv(identityVariables.namespace, 'metadata.namespace'),
    ...(spec.cluster !== undefined ? [{ name: identityVariables.cluster, value: spec.cluster }] : []),
    { name: identityVariables.image, value: spec.image },
    { name: identityVariables.runnerName, value: spec.runnerName },
    { name: identityVariables.priority, value: String(spec.priority) },
    { name: identityVariables.scaling, value: registeredByAutoscaler(spec) ? 'autoscaler' : 'fixed' },
    ...(registeredByAutoscaler(spec) ? [{ name: 'AZP_REGISTRATION', value: 'autoscaler' }, ...autoscalerKeyEnv(spec)] : []),
    ...dockerEnv(spec),
    ...(usesRecycleSidecar(spec) ? [recycleDirEnv] : []),
    ...Object.entries(spec.env).map(([name, value]) => ({ name, value })),
  ];
}

/** The agent, which runs one job. */
export function agentContainer(spec: RunnerPoolSpec): V1Container {
  const resources = agentResources(spec.resources);
  return {
    name: 'agent',
    image: spec.image,
    args: ['run'],
    env: agentEnv(spec),
    ...(registeredByAutoscaler(spec) && { ports: [{ name: 'handshake', containerPort: handshakePort }] }),
    // Any exit once the agent has started ends the pod, and the StatefulSet creates a fresh one (Kubernetes ≥ 1.35): a
    // job chooses how its agent exits, so no exit code of a started agent may restart it in this pod with this pod's
    // volumes. Only start.sh's failures before the agent runs (EX_CONFIG, which it never exits with afterwards) restart
    // in place, with the kubelet's back-off. With the sidecar, the sidecar deletes the pod instead (runner/recycle.ts).
    ...(!usesRecycleSidecar(spec) && {
      restartPolicy: 'Never',
      restartPolicyRules: [{ action: 'Restart', exitCodes: { operator: 'In', values: [beforeAgentFailure] } }],
    }),
    volumeMounts: [
      { name: 'config', mountPath: configDir },
      { name: 'work', mountPath: workDir },
      ...(usesRecycleSidecar(spec) ? [{ name: 'recycle', mountPath: recycleDir }] : []),
      ...(spec.dockerMode === 'hostSocket' ? [{ name: 'docker-proxy', mountPath: dockerProxyDir }] : []),
    ],
    ...(resources && { resources }),
    securityContext: agentSecurityContext(spec),
  };
}

/**
 * A native sidecar, the only container with a Kubernetes credential: when the agent says its job is done, it deletes
 * this pod (by UID, never a successor) and the StatefulSet creates a fresh one.
 */
export function recycleSidecar(spec: RunnerPoolSpec): V1Container {
  return {
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
  };
}

/**
 * dind: a native sidecar running a Docker engine of its own, new with every pod. `dockerd …` as its command line:
 * given options only, docker:dind's entrypoint would add `--host=tcp://0.0.0.0:2375`, an engine without TLS that
 * every pod and the node could reach. The agent starts once the engine answers.
 */
export function dockerSidecar(spec: RunnerPoolSpec): V1Container {
  return {
    name: 'docker',
    image: spec.dindImage ?? defaultDindImage,
    restartPolicy: 'Always',
    args: ['dockerd', `--host=${dockerHost}`, '--tls=false'],
    startupProbe: { exec: { command: ['docker', `--host=${dockerHost}`, 'version'] }, periodSeconds: 1, failureThreshold: 120 },
    securityContext: { privileged: true, runAsUser: 0, runAsNonRoot: false },
    volumeMounts: [
      // The same path as in the agent, so that a job's `docker run -v "$PWD:/src"` finds its files.
      { name: 'work', mountPath: workDir },
      { name: 'docker-data', mountPath: '/var/lib/docker' },
    ],
  };
}

/**
 * hostSocket: a native sidecar, the only container with the node's Docker socket. It passes the job's Docker calls
 * through, labels the containers, networks and volumes they create with the pod's UID, and removes those when the
 * pod ends (docker/README.md): the agent starts once its socket is there.
 */
export function dockerProxySidecar(spec: RunnerPoolSpec): V1Container {
  return {
    name: 'docker',
    image: spec.image,
    args: ['docker-proxy'],
    restartPolicy: 'Always',
    env: [
      fieldEnv(identityVariables.podUid, 'metadata.uid'),
      { name: 'AZP_DOCKER_SOCKET', value: dockerSocket },
      { name: 'AZP_DOCKER_PROXY_SOCKET', value: dockerProxySocket },
    ],
    volumeMounts: [
      { name: 'docker-socket', mountPath: dockerSocket },
      { name: 'docker-proxy', mountPath: dockerProxyDir },
    ],
    startupProbe: { exec: { command: ['test', '-S', dockerProxySocket] }, periodSeconds: 1, failureThreshold: 60 },
    resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
    securityContext: dropAll,
  };
}

/** The recycle sidecar's volumes: the agent's job-done file, and a short-lived token for this container alone. */
function recycleVolumes(): V1Volume[] {
  return [
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
  ];
}

function dockerVolumes(spec: RunnerPoolSpec): V1Volume[] {
  switch (spec.dockerMode) {
    case 'hostSocket':
      return [
        { name: 'docker-socket', hostPath: { path: dockerSocket, type: 'Socket' } },
        { name: 'docker-proxy', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
      ];
    case 'dind':
      // The engine's images, containers and build cache: gone with the pod.
      return [{ name: 'docker-data', emptyDir: {} }];
    case 'none':
    case 'buildah':
      return [];
  }
}

export function podVolumes(spec: RunnerPoolSpec): V1Volume[] {
  return [
    { name: 'config', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } },
    { name: 'work', emptyDir: spec.workVolumeSize ? { sizeLimit: spec.workVolumeSize } : {} },
    ...(registeredByAutoscaler(spec) ? [] : [{ name: 'registration', secret: { secretName: registrationSecretName(spec), defaultMode: 0o440 } }]),
    ...dockerVolumes(spec),
    ...(usesRecycleSidecar(spec) ? recycleVolumes() : []),
  ];
}

/** Non-root as the image's user; with the host's Docker socket, also in the group that owns it. */
export function podSecurityContext(spec: RunnerPoolSpec): V1PodSecurityContext {
  const socketGroup = spec.dockerMode === 'hostSocket' ? spec.dockerSocketGroupId : undefined;
  return {
    runAsNonRoot: true,
    runAsUser: runnerUid,
    runAsGroup: runnerUid,
    fsGroup: runnerUid,
    seccompProfile: { type: 'RuntimeDefault' },
    ...(socketGroup !== undefined && { supplementalGroups: [socketGroup] }),
  };
}

export function runnerPodSpec(spec: RunnerPoolSpec): V1PodSpec {
  const initContainers = [
    ...(registeredByAutoscaler(spec) ? [] : [registerStep(spec)]),
    ...(usesRecycleSidecar(spec) ? [recycleSidecar(spec)] : []),
    ...(spec.dockerMode === 'dind' ? [dockerSidecar(spec)] : []),
    ...(spec.dockerMode === 'hostSocket' ? [dockerProxySidecar(spec)] : []),
  ];
  return {
    automountServiceAccountToken: false,
    // Always named: the API server mirrors it into the deprecated `serviceAccount`, which no apply owns, and fills an
    // omitted serviceAccountName back from it — a pool moved off the recycle sidecar would keep the recycler's.
    serviceAccountName: usesRecycleSidecar(spec) ? recyclerName(spec) : 'default',
    enableServiceLinks: false,
    terminationGracePeriodSeconds: terminationGraceSeconds,
    securityContext: podSecurityContext(spec),
    ...(spec.imagePullSecret && { imagePullSecrets: [{ name: spec.imagePullSecret }] }),
    ...(Object.keys(spec.nodeSelector).length > 0 && { nodeSelector: spec.nodeSelector }),
    ...(spec.tolerations.length > 0 && { tolerations: spec.tolerations }),
    ...(initContainers.length > 0 && { initContainers }),
    containers: [agentContainer(spec)],
    volumes: podVolumes(spec),
  };
}
