// Kubernetes' words about a slot that cannot start, as users see them (src/core/slot-start.ts kubernetesMessage): a
// registry's credentials are masked in whatever form the message carries them; an image reference stays readable. And
// a podContainers service that never passes its ready= probe, which keeps its pod's agent from starting.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { blocksNewSlots, describeStuckSlot, kubernetesMessage, stuckSlots, type SlotStartLook } from '../../../src/core/slot-start.js';
import type { KubeObject } from '../../../src/core/ports/kube.js';
import { agentRunning, crashLoopBackOff, runnerPod, serviceNeverReady } from '../../support/stuck-pods.js';

const digest = `sha256:${'0123456789abcdef'.repeat(4)}`;

describe('kubernetesMessage', () => {
  it('masks user:secret@host without a URL scheme, wherever it stands', () => {
    const cases: Array<[string, string]> = [
      ['Back-off pulling image "bot:s3cret@registry.example/runner:1"', 'Back-off pulling image "***@registry.example/runner:1"'],
      ['bot:s3cret@registry.example:5000/runner', '***@registry.example:5000/runner'],
      ['pull image=bot:s3:cr3t@registry.example/x failed', 'pull image=***@registry.example/x failed'],
      ['login (:token-only@registry.example) refused', 'login (***@registry.example) refused'],
      ['pull "https://bot:s3cret@registry.example/v2/x"', 'pull "https://***@registry.example/v2/x"'],
      // A secret that holds an `@`: masked up to the last one.
      ['bot:s3cret@x@registry.example/runner', '***@registry.example/runner'],
      ['pull "https://bot:s3cret@x@registry.example/v2/x"', 'pull "https://***@registry.example/v2/x"'],
      // A base64 secret may hold a `/`.
      ['Failed to pull "bot:s3/cret@registry.example/x"', 'Failed to pull "***@registry.example/x"'],
      ['pull https://bot:s3/cret@registry.example/x', 'pull https://***@registry.example/x'],
      ['pull https://s3/cret@registry.example/x:1@' + digest, 'pull https://***@registry.example/x:1@' + digest],
    ];
    for (const [text, shown] of cases) {
      assert.equal(kubernetesMessage(text), shown);
      assert.doesNotMatch(kubernetesMessage(text), /s3cret|s3:cr3t|s3\/cret|token-only/);
    }
  });

  it('leaves an image digest as it is: name:tag@sha256:… holds no credential', () => {
    for (const image of [`runner:1@${digest}`, `registry.example/runner:1@${digest}`, `registry.example:5000/runner:1@${digest}`, `runner@${digest}`, `https://registry.example/v2/runner@${digest}`]) {
      const text = `Failed to pull image "${image}": not found`;
      assert.equal(kubernetesMessage(text), text);
    }
  });
});

describe('a service that never becomes ready', () => {
  const look = (pods: KubeObject[], registered: string[] = []): SlotStartLook =>
    ({ runnerName: 'linux', replicas: 6, statefulSetUid: 'uid-linux', pods, events: [], registeredPods: new Set(registered), now: Date.parse('2026-01-01T00:10:00Z') });

  it('holds its pod\'s start: named while the kubelet tries it again and while it backs off, registered or not', () => {
    const stuck = stuckSlots(look([serviceNeverReady('linux', 0, 'probing'), serviceNeverReady('linux', 1, 'backOff')], ['uid-linux-0', 'uid-linux-1']));
    assert.deepEqual(stuck.map(({ slot, reason, kubernetesReason }) => [slot, reason, kubernetesReason]), [
      [0, 'serviceNotReady', 'ContainersNotInitialized'],
      [1, 'serviceNotReady', 'ContainersNotInitialized'],
    ]);
    assert.equal(describeStuckSlot(stuck[0]), 'slot 0 cannot start: ContainersNotInitialized (service db restarted 3 times without passing its startup probe)');
    assert.equal(stuck[1].message, 'service db restarted 3 times without passing its startup probe: back-off 20s restarting failed container=db pod=linux-1_runners(uid-linux-1)');
    // It may be one node's (a slow disk under a database): like a crash, it does not hold the pool's size.
    assert.equal(blocksNewSlots(stuck[0]), false);
  });

  it('leaves alone a service still in its first try, one restarted after the agent started, and a job container\'s crash', () => {
    const crashingJobContainer = serviceNeverReady('linux', 2, 'backOff');
    const spec = crashingJobContainer.spec as { initContainers: Array<{ name: string; startupProbe?: unknown }> };
    delete spec.initContainers.find((c) => c.name === 'db')!.startupProbe;
    const stuck = stuckSlots(look([
      serviceNeverReady('linux', 0, 'firstTry'),
      serviceNeverReady('linux', 1, 'probing', agentRunning),
      crashingJobContainer,
      runnerPod('linux', 3, crashLoopBackOff('linux-3', 'uid-linux-3')),
    ]));
    // A sidecar without a probe that crashes is a crash, as before.
    assert.deepEqual(stuck.map(({ slot, reason }) => [slot, reason]), [[2, 'crashBeforeRegistration'], [3, 'crashBeforeRegistration']]);
  });
});
