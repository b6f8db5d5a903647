// Puts a runner pool into the emulator the way the product would: agents register over REST with the pod identity
// capabilities, come online through sessions, take and finish jobs a pipeline run queued; the pool snapshot is written
// as the tasks write it. What needs an agent process or a signed-in user (sessions, a job's result, the page's token)
// goes through the emulator's /_admin controls, never its in-memory store.
import { generateKeyPairSync } from 'node:crypto';
import { snapshotCollection, type PodSummary, type PoolSnapshot } from '../../src/core/model.js';
import { DEFAULT_PAT, type TestEmulator } from './emulator.js';

import { extension } from '../../trial/hub-host.js';

export { extension };

const basic = `Basic ${Buffer.from(`:${DEFAULT_PAT.token}`).toString('base64')}`;
// One key for every agent: the emulator only needs a well-formed RSA public key to register one.
const publicKey = (() => {
  const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' });
  return { exponent: Buffer.from(jwk.e!, 'base64url').toString('base64'), modulus: Buffer.from(jwk.n!, 'base64url').toString('base64') };
})();

async function rest(emulator: TestEmulator, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${emulator.orgUrl}/${path}`, {
    method, headers: { Authorization: basic, 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status} ${text}`);
  return text ? JSON.parse(text) : {};
}

/** A bearer token for the page (what the SDK's getAccessToken hands out), holding exactly `scopes`, for an hour. */
export async function issueUserToken(emulator: TestEmulator, scopes: string[]): Promise<string> {
  const token = `hub-user-${scopes.join('+')}-${Math.random().toString(36).slice(2)}`;
  await emulator.admin.addToken({ token, user: 'reader@emulated.example', scopes, expiresInSeconds: 60 * 60 });
  return token;
}

/** The id of the pool named so, created when there is none. */
async function findOrCreatePool(emulator: TestEmulator, name: string): Promise<number> {
  const found = await rest(emulator, 'GET', `_apis/distributedtask/pools?poolName=${encodeURIComponent(name)}&api-version=7.1`) as { value: Array<{ id: number }> };
  return found.value[0]?.id ?? (await emulator.admin.createPool(name)).id;
}

export interface SlotPlan {
  state: 'idle' | 'busy' | 'offline' | 'disabled' | 'podOnly';
  /** Extra capabilities (e.g. one that queued jobs demand). */
  capabilities?: Record<string, string>;
}

export interface SeededPool {
  poolId: number;
  poolName: string;
  runnerName: string;
  namespace: string;
}

/**
 * Creates the pool `poolName` (or joins it: several runners can share one) with runner `runnerName`: one slot per plan
 * entry (pod `<runner>-<i>`), `queued` jobs that wait for an agent, and the PoolSnapshot document (published
 * `snapshotAgeMs` ago) unless `snapshot` is false.
 */
export async function seedRunnerPool(emulator: TestEmulator, options: {
  poolName: string; runnerName: string; namespace?: string; slots: SlotPlan[]; queued?: number; snapshot?: boolean; snapshotAgeMs?: number;
}): Promise<SeededPool> {
  const { poolName, runnerName, slots } = options;
  const namespace = options.namespace ?? 'azure-pipelines';
  const poolId = await findOrCreatePool(emulator, poolName);
  const image = 'registry.example/runner:4.266.2';
  // Queued jobs demand a capability only an offline agent has, so they wait instead of going to an idle agent.
  const waitDemand = `waits-for-${runnerName}`;
  const agents = [];
  for (const [ordinal, plan] of slots.entries()) {
    if (plan.state === 'podOnly') continue;
    const podName = `${runnerName}-${ordinal}`;
    const capabilities = {
      'Agent.Name': podName, 'Agent.OS': 'Linux', RUNNER_NAME: runnerName, RUNNER_NAMESPACE: namespace, RUNNER_POD_NAME: podName,
      RUNNER_POD_UID: `uid-${podName}`, RUNNER_NODE_NAME: `node-${ordinal % 3}`, RUNNER_IMAGE: image,
      ...(plan.state === 'offline' && options.queued ? { [waitDemand]: 'yes' } : {}), ...plan.capabilities,
    };
    const registered = await rest(emulator, 'POST', `_apis/distributedtask/pools/${poolId}/agents?api-version=7.1`, {
      name: podName, version: '4.266.2', osDescription: 'Linux', maxParallelism: 1, systemCapabilities: capabilities, authorization: { publicKey },
    });
    agents.push({ plan, id: registered.id as number });
  }
  // Busy agents first come online alone, run one job of the CI pipeline to a failure (their last job), then take the
  // job they are busy with: each run's job goes to the one idle agent online.
  const busy = agents.filter((agent) => agent.plan.state === 'busy');
  if (busy.length > 0) {
    const pipeline = await emulator.admin.createPipeline({ project: 'Runner', name: 'CI', pool: poolName, script: 'make' });
    const runOn = async (agentId: number): Promise<number> => {
      const run = await rest(emulator, 'POST', `${pipeline.projectId}/_apis/pipelines/${pipeline.id}/runs?api-version=7.1`, {});
      const job = (await emulator.admin.jobs()).find((candidate) => candidate.owner?.id === run.id);
      if (job?.agentId !== agentId) throw new Error(`run ${String(run.id)} went to agent ${job?.agentId}, not ${agentId}`);
      return job.requestId;
    };
    for (const { id } of busy) {
      await emulator.admin.openSession(id);
      await emulator.admin.finishJob(await runOn(id), 'failed');
      await emulator.admin.startJob(await runOn(id));
    }
  }
  for (const { plan, id } of agents) {
    if (plan.state === 'idle' || plan.state === 'disabled') await emulator.admin.openSession(id);
    if (plan.state === 'disabled') await rest(emulator, 'PATCH', `_apis/distributedtask/pools/${poolId}/agents/${id}?api-version=7.1`, { id, enabled: false });
  }
  for (let i = 0; i < (options.queued ?? 0); i++) {
    const job = await emulator.admin.queueJob({ pool: poolId, name: `Waiting ${i + 1}`, script: 'true', demands: [waitDemand] });
    if ('rejected' in job) throw new Error(job.rejected);
  }
  if (options.snapshot !== false) {
    const publishedAt = new Date(Date.now() - (options.snapshotAgeMs ?? 3 * 60_000)).toISOString();
    const pods: PodSummary[] = slots.map((plan, ordinal) => ({
      name: `${runnerName}-${ordinal}`, uid: `uid-${runnerName}-${ordinal}`,
      phase: plan.state === 'podOnly' ? 'Pending' : 'Running', ready: plan.state !== 'podOnly' && plan.state !== 'offline',
      restarts: plan.state === 'offline' ? 2 : 0, node: `node-${ordinal % 3}`, image, createdAt: new Date(Date.now() - 40 * 60_000).toISOString(), deleting: false,
      waitingReason: plan.state === 'podOnly' ? 'ContainerCreating' : undefined,
    }));
    const snapshot: PoolSnapshot = {
      id: `${namespace}.${runnerName}`, runnerName, namespace, poolName, organizationUrl: emulator.orgUrl, publishedAt,
      publishedBy: 'ScaleRunnerPool', replicas: slots.length, pods,
      lastDecision: { previousReplicas: slots.length, replicas: slots.length, running: slots.length, runningRule: { beyondBusy: options.queued ?? 0, least: 0, most: slots.length }, queuedJobs: options.queued ?? 0, busyAgents: busy.length, reason: 'Replicas stay at the busy and queued count plus standby.', action: 'no_change' },
    };
    await rest(emulator, 'PUT', `_apis/ExtensionManagement/InstalledExtensions/${extension.publisher}/${extension.id}/Data/Scopes/Default/Current/Collections/${snapshotCollection}/Documents?api-version=7.1-preview.1`,
      { ...snapshot, __etag: -1 });
  }
  return { poolId, poolName, runnerName, namespace };
}
