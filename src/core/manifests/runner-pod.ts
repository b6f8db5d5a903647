// A runner slot's pod, piece by piece: the register step, the agent, the recycle and Docker sidecars, the volumes and
// the pod's security context. Each piece reads the spec for what it needs; the optional parts appear only when asked.
import type {
  V1Container,
  V1EnvVar,
  V1HostAlias,
  V1PodSecurityContext,
  V1PodSpec,
  V1Probe,
  V1ResourceRequirements,
  V1SecurityContext,
  V1Volume,
} from '@kubernetes/client-node';
import { defaultDindImage, type OfferedContainer, type ResourceSettings, type RunnerPoolSpec, type ServiceReadiness } from '../model.js';
import { identityVariables, slotWantedGate } from './pool-labels.js';
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

// Container jobs (docs/container-jobs.md): the agent's `docker create` binds its work folder and its externals into
// the job's containers. podContainers shares them with its siblings at the container paths (and runner/pod-containers.ts
// reads these paths from AZP_POD_CONTAINERS); dind's engine resolves them at the agent's own paths in its container.
const agentDir = '/azp/agent'; // the image's (images/linux/install.sh)
const agentExternalsDir = `${agentDir}/externals`;
// Outside the work folder (AGENT_TOOLSDIRECTORY), so that start.sh's cleaning of the work folder keeps its mount.
const toolDir = '/azp/tool';
const socketDir = '/azp/pod-containers';
const jobContainerPaths = { work: '/__w', tool: '/__t', externals: '/__a/externals' } as const;
// In the shared externals: runner.js and a link to the newest Node, for the job containers' exec helpers (start.sh).
const sharedRunnerDir = 'azp-runner';
const externalsCopyDir = '/azp/shared-externals';

/** The names of the runner's own containers in any mode: an offered container may not take one. */
export const runnerContainerNames = ['register', 'agent', 'recycle', 'docker', 'externals'] as const;

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

/**
 * Only the register step sees the credential: the Secret is mounted into this container alone. It has the agent's
 * variables too: config.sh registers them as the agent's capabilities, which stay until the agent's session reports
 * its own; with fewer, a job demanding one (an offered container, the pool's `env`) queued in between is refused.
 * The recycle sidecar's folder is the run's alone (start.sh ignores it as a capability).
 */
export function registerStep(spec: RunnerPoolSpec): V1Container {
  return {
    name: 'register',
    image: spec.image,
    args: ['register'],
    env: [...agentEnv(spec).filter((variable) => variable !== recycleDirEnv), ...credentialEnv(spec)],
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
    case 'podContainers':
      return podContainersEnv(spec);
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
      ...(spec.dockerMode === 'podContainers' ? [
        { name: 'externals', mountPath: agentExternalsDir, readOnly: true },
        { name: 'tool', mountPath: toolDir },
        { name: 'pod-containers', mountPath: socketDir },
      ] : []),
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
      // The same paths as in the agent, so that a job's `docker run -v "$PWD:/src"` finds its files, and a container
      // job's containers get the agent's work folder (its _tool, _temp and _tasks included) and its externals, whose
      // Node runs their steps: the agent image's, copied by the externals step (the agent keeps its own, the same files).
      { name: 'work', mountPath: workDir },
      { name: 'externals', mountPath: agentExternalsDir, readOnly: true },
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

/** The capability an agent advertises for an offered container, its value the image: what a job's demand names. */
export function offerCapability({ name, role }: Pick<OfferedContainer, 'name' | 'role'>): string {
  return `RUNNER_${role === 'job' ? 'CONTAINER' : 'SERVICE'}_${name.toUpperCase().replace(/-/g, '_')}`;
}

/** A service's host names: its name, then its aliases. */
const hostNames = (container: OfferedContainer): string[] => (container.role === 'service' ? [container.name, ...container.aliases] : []);

/**
 * podContainers: the agent's setting for its `docker` shim (AZP_POD_CONTAINERS, read by runner/pod-containers.ts),
 * its tool folder, and a capability per offered container. start.sh puts the shim first on PATH and keeps the
 * setting and the tool folder out of the capabilities.
 */
function podContainersEnv(spec: RunnerPoolSpec): V1EnvVar[] {
  const offered = spec.podContainers ?? [];
  const setting = {
    agentDir, workDir, toolDir, socketDir,
    containers: offered.map((c) => ({ name: c.name, image: c.image, role: c.role, ...(c.role === 'service' && { aliases: hostNames(c) }) })),
  };
  return [
    { name: 'AZP_POD_CONTAINERS', value: JSON.stringify(setting) },
    { name: 'AGENT_TOOLSDIRECTORY', value: toolDir },
    ...offered.map((c) => ({ name: offerCapability(c), value: c.image })),
  ];
}

/**
 * The init container of the modes that run container jobs: copies the agent's externals, runner.js and a link to the
 * newest Node (start.sh share-externals) into the volume that podContainers' agent and job containers, and dind's
 * engine, mount read-only.
 */
export function externalsStep(spec: RunnerPoolSpec): V1Container {
  return {
    name: 'externals',
    image: spec.image,
    args: ['share-externals', externalsCopyDir],
    volumeMounts: [{ name: 'externals', mountPath: externalsCopyDir }],
    resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
    securityContext: dropAll,
  };
}

/**
 * A service's `ready=` as its sidecar's startup probe: the kubelet starts the agent only once every sidecar has passed
 * its own, so a job's first step finds its services answering. Probed every second, so that a ready service holds the
 * job back by a second at most; after `timeoutSeconds` of failures the kubelet restarts the service (and waits again).
 */
function startupProbe({ probe, timeoutSeconds }: ServiceReadiness): V1Probe {
  const check: Pick<V1Probe, 'tcpSocket' | 'httpGet' | 'exec'> = probe.kind === 'tcp' ? { tcpSocket: { port: probe.port } }
    : probe.kind === 'http' ? { httpGet: { port: probe.port, path: probe.path } }
    : { exec: { command: probe.command } };
  return { ...check, periodSeconds: 1, failureThreshold: timeoutSeconds };
}

/**
 * An env value the container sees as written: the kubelet turns `$(NAME)` into NAME's value (a Secret's key through
 * envFrom too) and `$$` into `$`, so every `$` is doubled.
 */
const unexpanded = (value: string) => value.replaceAll('$', () => '$$');

/**
 * An offered container, a native sidecar: it runs for the pod's one job and ends with it. A job container runs the
 * exec helper (runner/exec-server.ts) on the shared Node, with the agent's folders at the paths the agent's `docker
 * create` asks for; a service runs its image's own command and mounts nothing of the job, with the env its line gives:
 * plain values, and its secrets by reference to Secrets the user keeps, so no value of theirs is in the manifest.
 */
export function offeredContainer(container: OfferedContainer): V1Container {
  const resources = agentResources(container.resources);
  const runner = `${jobContainerPaths.externals}/${sharedRunnerDir}`;
  return {
    name: container.name,
    image: container.image,
    restartPolicy: 'Always',
    ...(Object.keys(container.env).length > 0 && { env: Object.entries(container.env).map(([name, value]) => ({ name, value: unexpanded(value) })) }),
    ...(container.envFrom.length > 0 && { envFrom: container.envFrom.map((name) => ({ secretRef: { name } })) }),
    ...(container.role === 'job' && {
      command: [`${runner}/node`, `${runner}/runner.js`, 'exec-server', `${socketDir}/${container.name}.sock`],
      volumeMounts: [
        { name: 'work', mountPath: jobContainerPaths.work },
        { name: 'tool', mountPath: jobContainerPaths.tool },
        { name: 'externals', mountPath: jobContainerPaths.externals, readOnly: true },
        { name: 'pod-containers', mountPath: socketDir },
      ],
    }),
    ...(container.ready && { startupProbe: startupProbe(container.ready) }),
    ...(resources && { resources }),
    securityContext: dropAll,
  };
}

/** podContainers: the services' host names resolve to the pod's own loopback, where they listen. */
function podHostAliases(spec: RunnerPoolSpec): V1HostAlias[] {
  const hostnames = (spec.podContainers ?? []).flatMap(hostNames);
  return spec.dockerMode === 'podContainers' && hostnames.length > 0 ? [{ ip: '127.0.0.1', hostnames }] : [];
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
      return [{ name: 'externals', emptyDir: {} }, { name: 'docker-data', emptyDir: {} }];
    case 'podContainers':
      return [
        { name: 'externals', emptyDir: {} },
        { name: 'tool', emptyDir: spec.workVolumeSize ? { sizeLimit: spec.workVolumeSize } : {} },
        // The exec helpers' sockets: only the pod's containers reach them.
        { name: 'pod-containers', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
      ];
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
    ...(spec.dockerMode === 'dind' ? [externalsStep(spec), dockerSidecar(spec)] : []),
    ...(spec.dockerMode === 'hostSocket' ? [dockerProxySidecar(spec)] : []),
    ...(spec.dockerMode === 'podContainers' ? [externalsStep(spec), ...(spec.podContainers ?? []).map(offeredContainer)] : []),
  ];
  const hostAliases = podHostAliases(spec);
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
    ...(hostAliases.length > 0 && { hostAliases }),
    ...(initContainers.length > 0 && { initContainers }),
    containers: [agentContainer(spec)],
    volumes: podVolumes(spec),
    // Autoscaled: a slot's pod holds no node until a job (or standby) wants it; only the autoscaler lifts the gate.
    ...(registeredByAutoscaler(spec) && { schedulingGates: [{ name: slotWantedGate }] }),
  };
}
