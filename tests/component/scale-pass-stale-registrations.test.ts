// ScaleRunnerPool's clean-up of stale registrations against the emulator, which refuses to remove an agent holding a job
// as the service does: a refusal skips that agent with a warning, the pass goes on, and a later pass removes it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RestAdoClient } from '../../src/clients/ado-rest.js';
import { scalePass, type PassOptions } from '../../src/flows/scale-pass.js';
import { DEFAULT_PAT, startEmulator, type AdminJob, type TestEmulator } from '../support/emulator.js';
import { seedRunnerPool, type SeededPool } from '../support/hub-fixture.js';
import { MemoryHost } from '../support/memory-host.js';
import { statefulSetOnly } from '../support/fake-kube.js';

let emulator: TestEmulator;
let pool: SeededPool;

before(async () => {
  emulator = await startEmulator({ sessionExpiryMs: 30 * 60_000 });
  // Two slots kept; linux-2 and linux-3 are offline registrations above them.
  pool = await seedRunnerPool(emulator, { poolName: 'P', runnerName: 'linux', namespace: 'ci', snapshot: false, slots: [{ state: 'idle' }, { state: 'idle' }, { state: 'offline' }, { state: 'offline' }] });
});
after(() => emulator.stop());

/** A cluster holding the runner's StatefulSet at two replicas and no pods: all a pass reads and writes there. */
const kube = statefulSetOnly(2);

const options: PassOptions = {
  namespace: 'ci', runnerName: 'linux', poolName: 'P', organizationUrl: '', target: { mode: 'fixed', replicas: 2 },
  dryRun: false, removeStaleRegistrations: true, actor: 'ScaleRunnerPool',
};

const agentNamed = async (name: string) => (await emulator.admin.agents(pool.poolId)).find((agent) => agent.name === name) as { id: number } | undefined;

/**
 * linux-2's pod comes back and takes a job (handed over in the moment before the pass drained it), then dies mid-job:
 * offline, but holding the job until its lock runs out.
 */
async function takeJobAndDie(): Promise<number> {
  const agent = (await agentNamed('linux-2'))!;
  const enabled = await fetch(`${emulator.orgUrl}/_apis/distributedtask/pools/${pool.poolId}/agents/${agent.id}?api-version=7.1`, {
    method: 'PATCH', headers: { Authorization: `Basic ${Buffer.from(`:${DEFAULT_PAT.token}`).toString('base64')}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ id: agent.id, enabled: true }),
  });
  assert.equal(enabled.status, 200);
  await emulator.admin.openSession(agent.id);
  const job = await emulator.admin.queueJob({ pool: pool.poolId, script: 'sleep 600', demands: ['Agent.Name -equals linux-2'] }) as AdminJob;
  assert.equal(job.agentId, agent.id);
  await emulator.admin.startJob(job.requestId);
  await emulator.admin.endSession(agent.id);
  return job.requestId;
}

/** The pool changes once, just before the first delete: what may happen between a pass's look and its clean-up. */
class RacingClient extends RestAdoClient {
  race?: () => Promise<void>;

  override async deleteAgent(poolId: number, agentId: number): Promise<boolean> {
    const race = this.race;
    this.race = undefined;
    await race?.();
    return super.deleteAgent(poolId, agentId);
  }
}

test('a registration the service refuses to remove is kept with a warning, the others go, and a later pass removes it', async () => {
  const ado = new RacingClient({ organizationUrl: emulator.orgUrl, token: DEFAULT_PAT.token, sleep: async () => {}, log: () => {} });
  let requestId: number | undefined;
  // The race: after the pass looked at the pool, linux-2 takes a job.
  ado.race = async () => void (requestId = await takeJobAndDie());
  const host = new MemoryHost();
  const state = { kube, poolId: pool.poolId };
  const clock = { now: () => Date.now(), sleep: async () => {} };

  await scalePass(options, { log: host, ado, clock }, state);
  assert.deepEqual(host.warnings, [`Kept the offline registration linux-2 for now: Azure DevOps answered 400 to DELETE distributedtask/pools/${pool.poolId}/agents/${(await agentNamed('linux-2'))!.id}: Agent "linux-2" is running a job for pool "P". A later pass removes it once it holds no job.`]);
  assert.ok(host.log.includes('Removed the offline registration linux-3: its slot is above 1.'), host.log.join('\n'));
  assert.ok(await agentNamed('linux-2') && !await agentNamed('linux-3'));
  assert.equal((await emulator.admin.job(requestId!)).result, undefined, 'the job was not abandoned by a delete');

  // The job's lock runs out (the service abandons it); the next pass finds linux-2 idle and removes it.
  await emulator.admin.finishJob(requestId!, 'abandoned');
  const next = new MemoryHost();
  await scalePass(options, { log: next, ado, clock }, state);
  assert.deepEqual(next.warnings, []);
  assert.ok(next.log.includes('Removed the offline registration linux-2: its slot is above 1.'), next.log.join('\n'));
  assert.equal(await agentNamed('linux-2'), undefined);
});
