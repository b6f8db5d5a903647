// How long jobs waited, as a scaling pass reads it from the emulator's job requests: each job counted once, by
// pipeline, and the last day's median and p95 in the snapshot the hub shows.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RestAdoClient } from '../../src/clients/ado-rest.js';
import type { PoolSnapshot } from '../../src/core/model.js';
import { scalePass, type PassOptions, type PassState } from '../../src/flows/scale-pass.js';
import { DEFAULT_PAT, startEmulator, type TestEmulator } from '../support/emulator.js';
import { seedRunnerPool, type SeededPool } from '../support/hub-fixture.js';
import { MemoryHost } from '../support/memory-host.js';
import { statefulSetOnly } from '../support/fake-kube.js';
import { snapshotChangeGapMs } from '../../src/core/snapshot.js';

let emulator: TestEmulator;
let pool: SeededPool;

before(async () => {
  emulator = await startEmulator({ sessionExpiryMs: 30 * 60_000 });
  pool = await seedRunnerPool(emulator, { poolName: 'P', runnerName: 'linux', namespace: 'ci', snapshot: false, slots: [{ state: 'idle' }, { state: 'idle' }] });
});
after(() => emulator.stop());

const kube = statefulSetOnly(2);

class Publishing extends RestAdoClient {
  readonly published: PoolSnapshot[] = [];

  override async publishSnapshot(snapshot: PoolSnapshot): Promise<void> {
    this.published.push(snapshot);
  }
}

/** A job of `pipeline` queued `waited` seconds before one of the pool's agents received it. */
function received(agentName: string, pipeline: string, waited: number): number {
  const agent = [...emulator.store.agents.values()].find((a) => a.name === agentName)!;
  const job = emulator.store.queueJob(pool.poolId, { script: 'sleep 600', demands: [`Agent.Name -equals ${agentName}`] }, { definition: { id: pipeline.length, name: pipeline } });
  assert.ok('requestId' in job && job.reservedAgentId === agent.id);
  job.receiveTime = new Date(Date.parse(job.queueTime) + waited * 1000).toISOString();
  return job.requestId;
}

test('a pass counts each job its agents received once, by pipeline, and publishes the day\'s median and p95', async () => {
  const ado = new Publishing({ organizationUrl: emulator.orgUrl, token: DEFAULT_PAT.token, sleep: async () => {}, log: () => {} });
  const options: PassOptions = {
    namespace: 'ci', runnerName: 'linux', poolName: 'P', organizationUrl: emulator.orgUrl, target: { mode: 'fixed', replicas: 2 },
    dryRun: false, removeStaleRegistrations: false, actor: 'ScaleRunnerPool',
  };
  const state: PassState = { kube, poolId: pool.poolId };
  let now = Date.now();
  const clock = { now: () => now, sleep: async () => {} };
  const host = new MemoryHost();

  // As the loops do: the pass's history is kept once the pass went through. A change waits 15 s for its snapshot.
  const pass = async () => {
    now += snapshotChangeGapMs;
    const result = await scalePass(options, { log: host, ado, clock }, state);
    state.waits = result.waits;
    return result;
  };
  const quiet = await pass();
  assert.deepEqual(quiet.started, []);
  assert.equal(ado.published.at(-1)?.jobWait, undefined, 'no job, no figure');

  const ci = received('linux-0', 'CI', 12);
  const nightly = received('linux-1', 'Nightly', 3);
  const first = await pass();
  assert.deepEqual(first.started.map(({ requestId, pipeline, waitSeconds }) => ({ requestId, pipeline, waitSeconds })).sort((a, b) => a.requestId - b.requestId), [
    { requestId: ci, pipeline: 'CI', waitSeconds: 12 },
    { requestId: nightly, pipeline: 'Nightly', waitSeconds: 3 },
  ]);
  assert.deepEqual(ado.published.at(-1)?.jobWait, { jobs: 2, medianSeconds: 7.5, p95Seconds: 12 });

  const again = await pass();
  assert.deepEqual(again.started, [], 'a running job is counted once');
  assert.equal(state.waits?.recent.length, 2);
});
