// Runners of one pool in one namespace share their looks at the pool's job requests (src/core/shared-look.ts, issue
// #26; how much they save: tests/component/scale-org.test.ts). None lowers its count on a look taken from the others;
// a Lease it may not read, or one holding another pool's, a broken or a future-dated look, leaves each to read its own.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KubeApiError, type KubeClient, type ObjectRef } from '../../src/core/ports/kube.js';
import { sharedLookAnnotation, sharedLookName } from '../../src/core/shared-look.js';
import { DelegatingAdoClient } from '../../src/core/ports/ado.js';
import { InputReader, readScaleOptions } from '../../src/core/index.js';
import { scaleRunnerPool } from '../../src/flows/scale-pool.js';
import { startEmulator, type TestEmulator } from '../support/emulator.js';
import { namespace, poolName, RunnerWorld } from '../support/runner-world.js';
import { MemoryHost } from '../support/memory-host.js';
import { autoscaleTogether } from '../support/runners-together.js';

let emulator: TestEmulator;
before(async () => {
  emulator = await startEmulator({ sessionExpiryMs: 24 * 3600_000, lockDurationMs: 24 * 3600_000 });
});
after(() => emulator.stop());

/** Runners of one pool in one namespace, deployed autoscaled from zero. */
async function runnersOfOnePool(names: string[]): Promise<RunnerWorld[]> {
  const base = await RunnerWorld.create(emulator, { kube: { podStartSeconds: 3, podStopSeconds: 2 } });
  const runners = names.map((runnerName) => RunnerWorld.beside(base, { namespace, runnerName }));
  for (const runner of runners) await runner.deploy({ autoscaling: 'inCluster', minReplicas: '0', maxReplicas: '2', rolloutStatusTimeout: '0' });
  return runners;
}

/** The runners' autoscalers side by side, each started 1.7 s after the one before, each with its counted client. */
const autoscaleAll = (runners: RunnerWorld[], done: () => boolean, seconds: number, kubeOf: (runner: RunnerWorld) => KubeClient) => autoscaleTogether(runners, done, seconds, { kubeOf, startsAfterMs: 1700 });

/** What the tests count per runner. */
interface Looks {
  /** Its looks: each reads the Lease first. */
  looks: number;
  /** Its own reads of the job requests. */
  reads: number;
}

/**
 * Counts each runner's looks and reads. The runners share one fake cluster: a runner's Lease reads are told apart by
 * the client its autoscaler is given (`kubeOf`).
 */
function countLooks(runners: RunnerWorld[]) {
  const name = sharedLookName(emulator.orgUrl, poolName);
  const counts = new Map<string, Looks>(runners.map((runner) => [runner.runnerName, { looks: 0, reads: 0 }]));
  for (const runner of runners) {
    const count = counts.get(runner.runnerName)!;
    runner.ado.before('listUnfinishedJobs', () => void count.reads++);
  }
  // A Role from before the shared look: its Lease may not be read.
  const access = { denied: false };
  const kubeOf = (runner: RunnerWorld): KubeClient => {
    const count = counts.get(runner.runnerName)!;
    return new Proxy(runner.kube, {
      get(target, property) {
        if (property === 'get') {
          return (ref: ObjectRef) => {
            if (ref.kind === 'Lease' && ref.name === name) {
              if (access.denied) return Promise.reject(new KubeApiError(403, 'Forbidden', `leases "${name}" is forbidden`));
              count.looks++;
            }
            return target.get(ref);
          };
        }
        const value: unknown = Reflect.get(target, property);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  };
  return { counts, kubeOf, access };
}

/** A client whose first look's list came from the Lease (as SharedJobRequests says), and its calls in order. */
class SharedFirstLook extends DelegatingAdoClient {
  readonly steps: string[] = [];
  private shared = true;

  override get lastLookShared(): boolean {
    return this.shared;
  }

  override lookAfresh(): void {
    this.steps.push('afresh');
    this.shared = false;
  }

  override async listUnfinishedJobs(poolId: number) {
    this.steps.push(this.shared ? 'list from the Lease' : 'its own list');
    return super.listUnfinishedJobs(poolId);
  }
}

describe('runners of one pool in one namespace', () => {
  it('lower a count only on a look of their own: a pass that took its list from the Lease looks again itself first', async () => {
    const world = await RunnerWorld.create(emulator, { kube: { podStartSeconds: 3, podStopSeconds: 2 } });
    await world.deploy({ replicas: '3' });
    // Slots whose registrations take no job: nothing to drain, so nothing else would make the pass look again.
    for (let ordinal = 0; ordinal < 3; ordinal++) await world.ado.setAgentEnabled(world.poolId, world.agent(`${world.runnerName}-${ordinal}`)!.id, false);
    const ado = new SharedFirstLook(world.ado);
    world.kube.before('scale', () => void ado.steps.push('scale'));
    const host = new MemoryHost();
    const options = readScaleOptions(new InputReader(new MemoryHost({
      connectionType: 'inCluster', namespace, poolName, azureDevOpsUrl: emulator.orgUrl, personalAccessToken: world.token, runnerName: world.runnerName, mode: 'fixed', replicas: '1',
    })));
    const decision = await scaleRunnerPool(options, { host, ado, connect: async () => world.kube, clock: world.clock });
    assert.equal(decision.replicas, 1);
    assert.deepEqual(ado.steps, ['list from the Lease', 'afresh', 'its own list', 'scale']);
    assert.deepEqual(world.cutOff, []);
  });

  it('read their own when the Lease holds another pool\'s look, a broken one or one dated ahead, or may not be read', async () => {
    const runners = await runnersOfOnePool(['linux-a', 'linux-b']);
    const [{ kube, clock }] = runners;
    const { counts, kubeOf, access } = countLooks(runners);
    const rested = () => runners.every((runner) => runner.granted.length > 0 && runner.replicas() === 0);
    await autoscaleAll(runners, rested, 300, kubeOf);
    assert.ok(rested(), 'each registered and came to rest');
    const name = sharedLookName(emulator.orgUrl, poolName);
    const forgeries = [
      (at: number) => ({ organizationUrl: emulator.orgUrl, poolId: runners[0].poolId + 1, jobs: { at, by: 'elsewhere', list: [] } }),
      (at: number) => ({ organizationUrl: 'https://dev.azure.com/fabrikam', poolId: runners[0].poolId, jobs: { at, by: 'elsewhere', list: [] } }),
      (at: number) => ({ organizationUrl: emulator.orgUrl, poolId: runners[0].poolId, jobs: { at: at + 10_000, by: 'elsewhere', list: [] } }),
      () => '{"organizationUrl": ',
    ];
    let forgery = 0;
    // Before each look, whoever may write Leases in the namespace puts something there that no runner may use.
    kube.before('get', async (call) => {
      if (call.kind !== 'Lease' || call.name !== name) return;
      const text = forgeries[forgery++ % forgeries.length](clock.now());
      const annotations = { [sharedLookAnnotation]: typeof text === 'string' ? text : JSON.stringify(text) };
      const lease = kube.peek('Lease', namespace, name);
      if (lease === undefined) await kube.create({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace, annotations } }, 'test');
      else await kube.mergePatch({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace, name }, { metadata: { annotations } }, 'test');
    });
    for (const count of counts.values()) count.looks = count.reads = 0;
    const jobs = runners.map((runner) => ({ runner, id: runner.queueJob([`RUNNER_NAME -equals ${runner.runnerName}`]) }));
    await autoscaleAll(runners, () => jobs.every(({ runner, id }) => runner.agentOfJob(id) !== undefined), 300, kubeOf);
    assert.ok(jobs.every(({ runner, id }) => runner.agentOfJob(id) !== undefined), 'each runner\'s job reached its agent');
    for (const [runner, count] of counts) assert.equal(count.reads, count.looks, `${runner}: every look read its own list`);
    assert.equal(forgery, [...counts.values()].reduce((sum, count) => sum + count.looks, 0), 'a forged look before every look');

    // A Lease it may not read: each warns once and reads its own.
    access.denied = true;
    const before = new Map([...counts].map(([runner, count]) => [runner, count.reads]));
    const logs = await autoscaleAll(runners, () => false, 60, kubeOf);
    for (const [runner, count] of counts) assert.ok(count.reads - before.get(runner)! >= 3, `${runner} read its own: ${count.reads - before.get(runner)!}`);
    for (const host of logs) assert.equal(host.warnings.filter((line) => line.includes(name)).length, 1, host.warnings.join('\n'));
    assert.match(logs[0].warnings.join('\n'), /its Role is from an older DeployRunnerPool: deploy again to share/);
  });
});
