// The autoscaler's /metrics as Prometheus scrapes it: how long jobs waited, by pipeline, each job once; the slots
// that cannot start now, by why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startAutoscalerMonitor } from '../../../src/clients/autoscaler-metrics.js';
import type { AdoClient } from '../../../src/core/ports/ado.js';
import type { ScaleDecision } from '../../../src/core/model.js';

test('/metrics has the job wait histogram by pipeline, with the runner as a label', async () => {
  const ado = { calls: 0, throttledSeconds: 0 } as AdoClient;
  const monitor = await startAutoscalerMonitor(0, { pool: 'P', runner: 'linux', namespace: 'ci' }, ado, { pollSeconds: 5 }, () => Date.now());
  try {
    const decision: ScaleDecision = { replicas: 1, running: 1, runningRule: { beyondBusy: 0, least: 1, most: 5 }, previousReplicas: 1, busyAgents: 0, queuedJobs: 0, reason: 'no change', action: 'no_change' };
    const look = { busyOrdinals: [], queuedJobs: 0, leftToOthers: 0, ours: [], jobs: [] };
    monitor.passed({ decision, look, durationMs: 10, jobsStarted: [{ requestId: 1, pipeline: 'CI', waitSeconds: 12, startedAt: 0 }, { requestId: 2, pipeline: 'CI', waitSeconds: 4, startedAt: 0 }], stuck: [] });
    monitor.passed({ decision, look, durationMs: 10, jobsStarted: [{ requestId: 3, pipeline: 'Nightly', waitSeconds: 400, startedAt: 0 }], stuck: [] });
    const text = await (await fetch(`http://127.0.0.1:${monitor.port}/metrics`)).text();
    const series = (name: string, pipeline: string) => Number(new RegExp(`^azure_devops_runner_job_wait_seconds_${name}\\{[^}]*pipeline="${pipeline}"[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1]);
    assert.equal(series('count', 'CI'), 2);
    assert.equal(series('sum', 'CI'), 16);
    assert.equal(series('count', 'Nightly'), 1);
    assert.match(text, /^azure_devops_runner_job_wait_seconds_bucket\{le="10",pool="P",runner="linux",namespace="ci",pipeline="CI"\} 1$/m);
  } finally {
    await monitor.close();
  }
});

test('/metrics has the slots that cannot start now, by why: every cause a series, back to 0 once they start', async () => {
  const ado = { calls: 0, throttledSeconds: 0 } as AdoClient;
  const monitor = await startAutoscalerMonitor(0, { pool: 'P', runner: 'linux', namespace: 'ci' }, ado, { pollSeconds: 5 }, () => Date.now());
  const failures = async () => {
    const text = await (await fetch(`http://127.0.0.1:${monitor.port}/metrics`)).text();
    return Object.fromEntries([...text.matchAll(/^azure_devops_runner_slot_start_failures\{reason="(\w+)"[^}]*runner="linux"[^}]*\} (\S+)$/gm)].map(([, reason, value]) => [reason, Number(value)]));
  };
  try {
    // Worded to mislead a reader of the text (no change, deferred, a scale-up): the metric counts its action.
    const decision: ScaleDecision = { replicas: 3, running: 3, runningRule: { beyondBusy: 2, least: 0, most: 3 }, previousReplicas: 3, busyAgents: 0, queuedJobs: 2, reason: 'no change: a scale-up to 5 deferred', action: 'held' };
    const look = { busyOrdinals: [], queuedJobs: 2, leftToOthers: 0, ours: [], jobs: [] };
    const pull = { reason: 'imagePull' as const, kubernetesReason: 'ImagePullBackOff', message: 'Back-off pulling image' };
    monitor.passed({ decision, look, durationMs: 10, jobsStarted: [], stuck: [{ slot: 1, ...pull }, { slot: 2, ...pull }, { slot: 0, reason: 'quota', kubernetesReason: 'FailedCreate', message: 'exceeded quota' }] });
    assert.deepEqual(await failures(), { imagePull: 2, unschedulable: 0, quota: 1, crashBeforeRegistration: 0, serviceNotReady: 0 });
    monitor.passed({ decision, look, durationMs: 10, jobsStarted: [], stuck: [] });
    assert.deepEqual(await failures(), { imagePull: 0, unschedulable: 0, quota: 0, crashBeforeRegistration: 0, serviceNotReady: 0 });
    // The decision's kind is read from its action, not its text.
    const text = await (await fetch(`http://127.0.0.1:${monitor.port}/metrics`)).text();
    assert.match(text, /^azure_devops_runner_decisions_total\{action="held"[^}]*\} 2$/m);
    assert.doesNotMatch(text, /^azure_devops_runner_decisions_total\{action="(no_change|deferred|scale_up)"/m);
  } finally {
    await monitor.close();
  }
});

test('/readyz stays ready while a low rate budget stretches the passes far apart, and not once a pass failed', async () => {
  const ado = { calls: 0, throttledSeconds: 0 } as AdoClient;
  let now = 0;
  const monitor = await startAutoscalerMonitor(0, { pool: 'P', runner: 'linux', namespace: 'ci' }, ado, { pollSeconds: 5 }, () => now);
  const ready = async () => (await fetch(`http://127.0.0.1:${monitor.port}/readyz`)).status;
  try {
    const decision: ScaleDecision = { replicas: 0, running: 0, runningRule: { beyondBusy: 0, least: 0, most: 5 }, previousReplicas: 0, busyAgents: 0, queuedJobs: 0, reason: 'no change', action: 'no_change' };
    monitor.passed({ decision, look: { busyOrdinals: [], queuedJobs: 0, leftToOthers: 0, ours: [], jobs: [] }, durationMs: 10, jobsStarted: [], stuck: [] });
    // The next pass 4 minutes later (a stretched interval); the loop turns for its lease meanwhile. The old rule: 503
    // after 2 minutes, every autoscaler of the organization at once.
    for (; now < 240_000; now += 5_000) monitor.turning();
    assert.equal(await ready(), 200);
    monitor.passFailed(new Error('503 Service Unavailable'), true);
    assert.equal(await ready(), 503, 'Azure DevOps did not answer the last pass, and none succeeded for 2 minutes');
  } finally {
    await monitor.close();
  }
});
