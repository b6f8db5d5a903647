// Runner pods that cannot start and the StatefulSet's refused creates, as a Kubernetes 1.36 API server returns them
// (recorded from a cluster, names and times swapped in): for the recognition in src/core/slot-start.ts.
import type { KubeObject } from '../../src/core/ports/kube.js';

type Json = Record<string, unknown>;

const at = '2026-01-01T00:00:00Z';

/** The image that no registry serves: its registry's name does not resolve. */
export const unpullableImage = 'registry.invalid/runner:1';

/** Pod conditions of a pod bound to a node whose agent container is not ready. */
const boundNotReady = [
  { type: 'PodReadyToStartContainers', status: 'True', lastProbeTime: null, lastTransitionTime: at },
  { type: 'Initialized', status: 'True', lastProbeTime: null, lastTransitionTime: at },
  { type: 'Ready', status: 'False', lastProbeTime: null, lastTransitionTime: at, reason: 'ContainersNotReady', message: 'containers with unready status: [agent]' },
  { type: 'ContainersReady', status: 'False', lastProbeTime: null, lastTransitionTime: at, reason: 'ContainersNotReady', message: 'containers with unready status: [agent]' },
  { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: at },
];

function agentWaiting(reason: string, message: string, extra: Json = {}): Json {
  return {
    name: 'agent', state: { waiting: { reason, message } }, lastState: {}, ready: false, restartCount: 0, image: unpullableImage, imageID: '', started: false,
    volumeMounts: [{ name: 'work', mountPath: '/azp/_work' }], resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { memory: '4Gi' } }, ...extra,
  };
}

/** The kubelet backs off pulling an image whose registry does not resolve. */
export const imagePullBackOff: Json = {
  phase: 'Pending',
  conditions: boundNotReady,
  hostIP: '10.0.0.4', hostIPs: [{ ip: '10.0.0.4' }], podIP: '10.244.0.12', podIPs: [{ ip: '10.244.0.12' }], startTime: at,
  containerStatuses: [agentWaiting('ImagePullBackOff', `Back-off pulling image "${unpullableImage}": ErrImagePull: failed to pull and unpack image "${unpullableImage}": failed to resolve reference "${unpullableImage}": failed to do request: Head "https://registry.invalid/v2/runner/manifests/1": dial tcp: lookup registry.invalid on 10.96.0.10:53: no such host`)],
  qosClass: 'Burstable',
};

/** The same pod between two back-offs. */
export const errImagePull: Json = {
  ...imagePullBackOff,
  containerStatuses: [agentWaiting('ErrImagePull', `failed to pull and unpack image "${unpullableImage}": failed to resolve reference "${unpullableImage}": failed to do request: Head "https://registry.invalid/v2/runner/manifests/1": dial tcp: lookup registry.invalid on 10.96.0.10:53: no such host`)],
};

/** No node has the CPU its request asks for. */
export const unschedulable: Json = {
  phase: 'Pending',
  conditions: [{
    type: 'PodScheduled', status: 'False', lastProbeTime: null, lastTransitionTime: at, reason: 'Unschedulable',
    message: '0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.',
  }],
  qosClass: 'Burstable',
};

/** Held on purpose by a scheduling gate: not stuck. */
export const schedulingGated: Json = {
  phase: 'Pending',
  conditions: [{ type: 'PodScheduled', status: 'False', lastProbeTime: null, lastTransitionTime: at, reason: 'SchedulingGated', message: 'Scheduling is blocked due to non-empty scheduling gates' }],
  qosClass: 'Burstable',
};

/** The agent's container exits at once, over and over. */
export function crashLoopBackOff(pod: string, uid: string): Json {
  return {
    phase: 'Running',
    conditions: boundNotReady,
    hostIP: '10.0.0.4', podIP: '10.244.0.13', startTime: at,
    containerStatuses: [agentWaiting('CrashLoopBackOff', `back-off 40s restarting failed container=agent pod=${pod}_runners(${uid})`, {
      restartCount: 3,
      lastState: { terminated: { exitCode: 1, reason: 'Error', startedAt: at, finishedAt: at, containerID: 'containerd://5d1f0c9a' } },
    })],
    qosClass: 'Burstable',
  };
}

/** A runner pod of `runnerName` at `ordinal` with `status`. */
export function runnerPod(runnerName: string, ordinal: number, status: Json, uid = `uid-${runnerName}-${ordinal}`): KubeObject {
  const name = `${runnerName}-${ordinal}`;
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name, namespace: 'runners', uid, creationTimestamp: at,
      labels: { 'app.kubernetes.io/name': 'azure-devops-runner', 'app.kubernetes.io/instance': runnerName, 'statefulset.kubernetes.io/pod-name': name },
    },
    spec: { containers: [{ name: 'agent', image: unpullableImage }], ...(status.phase === 'Running' || status.hostIP ? { nodeName: 'node-1' } : {}) },
    status,
  };
}

/** The StatefulSet controller's record of a create a ResourceQuota refused, last seen at `last`. */
export function quotaRefusal(runnerName: string, ordinal: number, last: string, statefulSetUid = `uid-${runnerName}`): KubeObject {
  const pod = `${runnerName}-${ordinal}`;
  const message = `create Pod ${pod} in StatefulSet ${runnerName} failed error: pods "${pod}" is forbidden: exceeded quota: runner-quota, requested: pods=1, used: pods=2, limited: pods=2`;
  return controllerEvent(runnerName, ordinal, { reason: 'FailedCreate', type: 'Warning', message }, last, statefulSetUid);
}

/** The StatefulSet controller's record of the slot's pod created, last at `last`. */
export function podCreated(runnerName: string, ordinal: number, last: string, statefulSetUid = `uid-${runnerName}`): KubeObject {
  const message = `create Pod ${runnerName}-${ordinal} in StatefulSet ${runnerName} successful`;
  return controllerEvent(runnerName, ordinal, { reason: 'SuccessfulCreate', type: 'Normal', message }, last, statefulSetUid);
}

function controllerEvent(runnerName: string, ordinal: number, what: { reason: string; type: string; message: string }, last: string, statefulSetUid: string): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Event',
    metadata: { name: `${runnerName}.18812a4b3c2d1e0${ordinal}${what.type === 'Normal' ? 'n' : ''}`, namespace: 'runners', uid: `event-${what.reason}-${ordinal}`, resourceVersion: '4711', creationTimestamp: at },
    involvedObject: { kind: 'StatefulSet', namespace: 'runners', name: runnerName, uid: statefulSetUid, apiVersion: 'apps/v1', resourceVersion: '4690' },
    reason: what.reason,
    message: what.message,
    source: { component: 'statefulset-controller' },
    firstTimestamp: at, lastTimestamp: last, count: 7, type: what.type, eventTime: null, reportingComponent: 'statefulset-controller', reportingInstance: '',
  };
}

/**
 * A podContainers pod whose service `db` (a native sidecar with `ready=tcp:5432`, its startup probe) never answers on
 * its port: after readyTimeout the kubelet restarts it, and the agent never starts. Unlike the statuses above this one
 * is not recorded but written after the kubelet's rules (pkg/kubelet/kuberuntime, pkg/kubelet/status): a restarted
 * sidecar that has not passed its probe runs with `started: false`, or waits in CrashLoopBackOff between two tries;
 * the agent waits in PodInitializing. `agent`: the agent's own status, for a pod whose agent did start.
 */
export function serviceNeverReady(runnerName: string, ordinal: number, db: 'probing' | 'backOff' | 'firstTry', agent?: Json): KubeObject {
  const pod = `${runnerName}-${ordinal}`;
  const uid = `uid-${pod}`;
  const tries = db === 'firstTry' ? 0 : 3;
  const killed = { terminated: { exitCode: 0, reason: 'Completed', startedAt: at, finishedAt: at, containerID: 'containerd://0b7e1d2c' } };
  const dbStatus: Json = {
    name: 'db', image: 'docker.io/library/postgres:16', imageID: 'docker.io/library/postgres@sha256:4c2a', containerID: 'containerd://9f3e2a1b',
    ready: false, started: false, restartCount: tries, lastState: tries > 0 ? killed : {},
    state: db === 'backOff' ? { waiting: { reason: 'CrashLoopBackOff', message: `back-off 20s restarting failed container=db pod=${pod}_runners(${uid})` } } : { running: { startedAt: at } },
  };
  const status: Json = {
    phase: 'Pending',
    conditions: [
      { type: 'PodReadyToStartContainers', status: 'True', lastProbeTime: null, lastTransitionTime: at },
      { type: 'Initialized', status: 'False', lastProbeTime: null, lastTransitionTime: at, reason: 'ContainersNotInitialized', message: 'containers with incomplete status: [db]' },
      { type: 'Ready', status: 'False', lastProbeTime: null, lastTransitionTime: at, reason: 'ContainersNotReady', message: 'containers with unready status: [db agent]' },
      { type: 'ContainersReady', status: 'False', lastProbeTime: null, lastTransitionTime: at, reason: 'ContainersNotReady', message: 'containers with unready status: [db agent]' },
      { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: at },
    ],
    hostIP: '10.0.0.4', podIP: '10.244.0.14', startTime: at,
    initContainerStatuses: [
      { name: 'externals', image: 'registry.example.com/runner:1', imageID: '', ready: true, started: false, restartCount: 0, lastState: {}, state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: at, finishedAt: at } } },
      { name: 'build', image: 'docker.io/library/debian:12', imageID: '', ready: true, started: true, restartCount: 0, lastState: {}, state: { running: { startedAt: at } } },
      dbStatus,
    ],
    containerStatuses: [agent ?? agentWaiting('PodInitializing', '')],
    qosClass: 'Burstable',
  };
  const object = runnerPod(runnerName, ordinal, status, uid);
  object.spec = {
    ...(object.spec as Json),
    initContainers: [
      { name: 'externals', image: 'registry.example.com/runner:1', args: ['share-externals', '/azp/shared-externals'] },
      { name: 'build', image: 'debian:12', restartPolicy: 'Always' },
      { name: 'db', image: 'postgres:16', restartPolicy: 'Always', startupProbe: { tcpSocket: { port: 5432 }, periodSeconds: 1, failureThreshold: 300, timeoutSeconds: 1, successThreshold: 1 } },
    ],
  };
  return object;
}

/** The agent's status once it has started: running. */
export const agentRunning: Json = {
  name: 'agent', state: { running: { startedAt: at } }, lastState: {}, ready: true, restartCount: 0, image: 'registry.example.com/runner:1', imageID: '', started: true,
};
