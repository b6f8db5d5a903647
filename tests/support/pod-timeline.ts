// When each pod of a namespace reached each step of its start, as a watch sees it live (the API's own timestamps
// have whole seconds only): created, scheduled, sandbox ready (PodReadyToStartContainers), every container started and
// finished; and, from the containers' logs (the runtime stamps each line), when a line first said something.
import { CoreV1Api } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpKubeClient, loadKubeConfig } from '../../src/clients/kube-http.js';
import type { KubeObject } from '../../src/core/ports/kube.js';

export interface PodTimeline {
  name: string;
  uid: string;
  labels: Record<string, string>;
  /** Epoch milliseconds at which the watch first saw each step: `created`, `scheduled`, `sandbox`, `<container>-started`… */
  at: Record<string, number>;
}

interface PodShape {
  status?: {
    conditions?: Array<{ type: string; status: string }>;
    initContainerStatuses?: ContainerShape[];
    containerStatuses?: ContainerShape[];
  };
}
interface ContainerShape {
  name: string;
  state?: { running?: object; terminated?: { startedAt?: string } };
}

export interface PodFollower {
  /** The pods seen so far, by UID. */
  timelines: Map<string, PodTimeline>;
  stop(): Promise<void>;
}

/** Follows every pod of `namespace` until stopped. */
export function followPods(kubeconfig: string, namespace: string): PodFollower {
  const kube = new HttpKubeClient(loadKubeConfig(kubeconfig));
  const timelines = new Map<string, PodTimeline>();
  const note = (timeline: PodTimeline, step: string, now: number) => void (timeline.at[step] ??= now);
  const onChange = (pods: KubeObject[]) => {
    const now = Date.now();
    for (const pod of pods) {
      const uid = pod.metadata.uid!;
      let timeline = timelines.get(uid);
      if (timeline === undefined) {
        timeline = { name: pod.metadata.name, uid, labels: pod.metadata.labels ?? {}, at: { created: now } };
        timelines.set(uid, timeline);
      }
      const { status } = pod as PodShape;
      const condition = (type: string) => status?.conditions?.some((c) => c.type === type && c.status === 'True');
      if (condition('PodScheduled')) note(timeline, 'scheduled', now);
      if (condition('PodReadyToStartContainers')) note(timeline, 'sandbox', now);
      for (const container of [...(status?.initContainerStatuses ?? []), ...(status?.containerStatuses ?? [])]) {
        if (container.state?.running || container.state?.terminated) note(timeline, `${container.name}-started`, now);
        if (container.state?.terminated) note(timeline, `${container.name}-finished`, now);
      }
    }
  };
  const stopping = new AbortController();
  const following = (async () => {
    while (!stopping.signal.aborted) {
      try {
        await kube.watch('v1', 'Pod', namespace, '', onChange, stopping.signal);
      } catch {
        if (!stopping.signal.aborted) await sleep(200);
      }
    }
  })();
  return {
    timelines,
    async stop() {
      stopping.abort();
      await following;
    },
  };
}

/** The runtime's time of the first line of a container's log that matches each pattern (epoch ms), by step name. */
export async function logTimes(kubeconfig: string, namespace: string, pod: string, container: string, patterns: Record<string, RegExp>): Promise<Record<string, number>> {
  const api = loadKubeConfig(kubeconfig).makeApiClient(CoreV1Api);
  const text = await api.readNamespacedPodLog({ name: pod, namespace, container, timestamps: true }).catch(() => '');
  const times: Record<string, number> = {};
  for (const line of text.split('\n')) {
    // 2025-12-01T23:00:00.123456789Z <line>: Date.parse takes milliseconds.
    const match = /^(\S+?T\d\d:\d\d:\d\d)(\.\d{1,3})?\d*(Z|[+-]\d\d:\d\d) (.*)$/.exec(line);
    if (!match) continue;
    const at = Date.parse(`${match[1]}${match[2] ?? ''}${match[3]}`);
    for (const [step, pattern] of Object.entries(patterns)) if (times[step] === undefined && pattern.test(match[4])) times[step] = at;
  }
  return times;
}

/**
 * CPU seconds a pod has used so far, from its cgroup on this node (the local cluster's kubelet, cgroupfs driver, v1 or
 * v2); undefined where the cgroup is not on this machine. Unlike wall times, it does not change with the machine's load.
 */
export function podCpuSeconds(uid: string): number | undefined {
  for (const qos of ['besteffort/', 'burstable/', '']) {
    for (const [file, read] of [
      [`/sys/fs/cgroup/cpuacct/kubepods/${qos}pod${uid}/cpuacct.usage`, (text: string) => Number(text) / 1e9],
      [`/sys/fs/cgroup/kubepods/${qos}pod${uid}/cpu.stat`, (text: string) => Number(/^usage_usec (\d+)/m.exec(text)?.[1]) / 1e6],
    ] as const) {
      try {
        return read(readFileSync(file, 'utf8'));
      } catch {
        // not this layout
      }
    }
  }
  return undefined;
}
