// Shows the test cluster is a real Kubernetes: StatefulSet pods run, logs/exec work, and restarts behave as the kubelet does.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildah, cluster, kubectl, kubectlJson, pushImage, waitFor } from '../support/cluster.js';

interface Pod {
  metadata: { name: string; uid: string };
  status: {
    phase?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: {
      restartCount: number;
      state: { running?: { startedAt: string } };
      lastState: { terminated?: { finishedAt: string } };
    }[];
  };
}
interface StatefulSet {
  spec: { template: { spec: { containers: { restartPolicy?: string; restartPolicyRules?: unknown[] }[] } } };
  status: { readyReplicas?: number };
}

const namespace = `smoke-${process.pid}`;
let image = '';

/** A scratch image holding Debian's static busybox: no base image is needed or pulled. */
async function buildBusyboxImage(): Promise<string> {
  const context = await mkdtemp(join(tmpdir(), 'adr-busybox-'));
  try {
    await copyFile('/bin/busybox', join(context, 'busybox'));
    await writeFile(
      join(context, 'Containerfile'),
      'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n',
    );
    await buildah(['bud', '--quiet', '--layers', '--isolation', 'chroot', '-t', 'localhost/adr-smoke-busybox:1', context]);
  } finally {
    await rm(context, { recursive: true, force: true });
  }
  return pushImage('localhost/adr-smoke-busybox:1', 'adr-smoke/busybox:1');
}

/** A StatefulSet whose single container runs `script`; `container` adds fields to that container. */
function statefulSet(name: string, replicas: number, script: string, container: object = {}): string {
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, namespace },
    spec: {
      replicas,
      podManagementPolicy: 'Parallel',
      serviceName: name,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          terminationGracePeriodSeconds: 1,
          automountServiceAccountToken: false,
          containers: [
            { name: 'main', image, imagePullPolicy: 'IfNotPresent', command: ['/bin/sh', '-c', script], ...container },
          ],
        },
      },
    },
  });
}

async function apply(manifest: string): Promise<void> {
  await kubectl(['apply', '-f', '-'], { input: manifest });
}

async function pod(name: string): Promise<Pod> {
  return kubectlJson<Pod>(['get', 'pod', '-n', namespace, name]);
}

const isReady = (p: Pod): boolean => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

describe('local test cluster', { timeout: 300_000 }, () => {
  before(async () => {
    await cluster();
    image = await buildBusyboxImage();
    await kubectl(['create', 'namespace', namespace]);
  });

  after(async () => {
    await kubectl(['delete', 'namespace', namespace, '--wait=true', '--timeout=90s']);
  });

  test('a StatefulSet of 2 replicas of a locally built image gets Ready; logs and exec work', async () => {
    await apply(statefulSet('web', 2, 'trap "exit 0" TERM; echo "hello from $(hostname)"; while true; do sleep 1; done'));
    await waitFor('2 ready replicas', 90_000, async () => {
      const s = await kubectlJson<StatefulSet>(['get', 'statefulset', '-n', namespace, 'web']);
      return s.status.readyReplicas === 2 ? true : undefined;
    });
    assert.match(await kubectl(['logs', '-n', namespace, 'web-0']), /^hello from web-0$/m);
    assert.equal((await kubectl(['exec', '-n', namespace, 'web-1', '--', 'cat', '/etc/hostname'])).trim(), 'web-1');
  });

  test('a deleted pod comes back under the same name with a new UID', async () => {
    const before = await pod('web-0');
    await kubectl(['delete', 'pod', '-n', namespace, 'web-0', '--wait=true']);
    const replaced = await waitFor('web-0 replaced and Ready', 60_000, async () => {
      const p = await pod('web-0');
      return p.metadata.uid !== before.metadata.uid && isReady(p) ? p : undefined;
    });
    assert.notEqual(replaced.metadata.uid, before.metadata.uid);
  });

  test('seed design: a container that exits 0 is restarted in the same pod, with the kubelet back-off', async () => {
    await apply(statefulSet('seed', 1, 'sleep 2; exit 0'));
    const uids = new Set<string>();
    const restarted = await waitFor('restart count 2', 120_000, async () => {
      const p = await pod('seed-0');
      uids.add(p.metadata.uid);
      const status = p.status.containerStatuses?.[0];
      const [started, finished] = [status?.state.running?.startedAt, status?.lastState.terminated?.finishedAt];
      return status && status.restartCount >= 2 && started && finished ? { started, finished } : undefined;
    });
    assert.equal(uids.size, 1, 'the same pod is restarted, never replaced');
    // The first restart is immediate; the second waits out the kubelet's back-off (10 s doubling, default).
    const gapSeconds = (Date.parse(restarted.started) - Date.parse(restarted.finished)) / 1000;
    assert.ok(gapSeconds >= 5, `second restart after ${gapSeconds} s: no back-off`);
    // kubelet 1.36 reports the back-off as this event; the CrashLoopBackOff waiting state shows only on a later resync.
    const events = await kubectlJson<{ items: { reason: string; message: string }[] }>([
      'get', 'events', '-n', namespace, '--field-selector', `involvedObject.uid=${[...uids][0]}`,
    ]);
    assert.ok(events.items.some((e) => e.reason === 'BackOff' && /Back-off restarting failed container/.test(e.message)));
  });

  test('container restartPolicy Never + restart rules: an exit 0 gives a new pod (new UID)', async () => {
    await apply(
      statefulSet('fresh', 1, 'sleep 2; exit 0', {
        restartPolicy: 'Never',
        restartPolicyRules: [{ action: 'Restart', exitCodes: { operator: 'NotIn', values: [0] } }],
      }),
    );
    // A cluster without the ContainerRestartRules gate would drop both fields silently.
    const stored = await kubectlJson<StatefulSet>(['get', 'statefulset', '-n', namespace, 'fresh']);
    assert.equal(stored.spec.template.spec.containers[0]?.restartPolicy, 'Never');
    assert.equal(stored.spec.template.spec.containers[0]?.restartPolicyRules?.length, 1);

    const first = await waitFor('fresh-0 running', 60_000, async () => {
      const p = await pod('fresh-0').catch(() => undefined);
      return p?.status.phase === 'Running' ? p : undefined;
    });
    const next = await waitFor('fresh-0 recreated', 60_000, async () => {
      const p = await pod('fresh-0').catch(() => undefined);
      return p && p.metadata.uid !== first.metadata.uid ? p : undefined;
    });
    assert.notEqual(next.metadata.uid, first.metadata.uid);
    assert.equal(next.status.containerStatuses?.[0]?.restartCount ?? 0, 0);
  });
});
