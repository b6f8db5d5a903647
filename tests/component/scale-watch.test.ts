// ScaleRunnerPool's watch loop over the fake cluster: a blip (no answer, 429, 5xx) costs a pass and a warning; three in
// a row, or any refusal, end the task; a last pass that fails leaves the pool as the pass before it decided.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startEmulator, type TestEmulator } from '../support/emulator.js';
import { RunnerWorld } from '../support/runner-world.js';
import { MemoryHost } from '../support/memory-host.js';
import { KubeApiError } from '../../src/core/ports/kube.js';

let emulator: TestEmulator;
before(async () => {
  emulator = await startEmulator();
});
after(async () => {
  await emulator.stop();
});

type Outcome = 'ok' | 'unreachable' | 'throttled' | 'unavailable' | 'forbidden' | 'unauthorized' | 'invalid';
const errors: Record<Exclude<Outcome, 'ok'>, KubeApiError> = {
  unreachable: new KubeApiError(0, 'Unreachable', 'cannot reach the cluster at https://k8s: connect ECONNREFUSED'),
  throttled: new KubeApiError(429, 'TooManyRequests', 'GET statefulsets: 429 TooManyRequests'),
  unavailable: new KubeApiError(503, 'ServiceUnavailable', 'GET statefulsets: 503 ServiceUnavailable'),
  forbidden: new KubeApiError(403, 'Forbidden', 'GET statefulsets: 403 Forbidden'),
  unauthorized: new KubeApiError(401, 'Unauthorized', 'GET statefulsets: 401 Unauthorized'),
  invalid: new KubeApiError(422, 'Invalid', 'PATCH statefulsets: 422 Invalid'),
};
const transient = new Set<Outcome>(['unreachable', 'throttled', 'unavailable']);

/** A 1-minute watch every 5 s is 13 passes; the n-th pass meets outcomes[n] (first at the pass's first call). */
async function watch(world: RunnerWorld, outcomes: Outcome[], host = new MemoryHost()) {
  let pass = 0;
  const remove = world.kube.before('get', (call) => {
    if (call.kind !== 'StatefulSet') return;
    const outcome = outcomes[pass++] ?? 'ok';
    if (outcome !== 'ok') world.kube.failNext({ verb: 'get', kind: 'StatefulSet' }, errors[outcome]);
  });
  try {
    return { decision: await world.scale({ mode: 'fixed', replicas: '2', watchMinutes: '1', intervalSeconds: '5' }, host), passes: pass, host };
  } catch (error) {
    return { error: error as Error, passes: pass, host };
  } finally {
    remove();
  }
}
const passes = 13;
const failedPasses = (host: MemoryHost) => host.warnings.filter((w) => w.startsWith('This pass failed; the next one is in 5 s.'));

describe('the watch loop', () => {
  it('rides out two failed passes in a row and goes on to the end of the watch', async () => {
    const world = await RunnerWorld.create(emulator);
    await world.deploy({ replicas: '3' });
    const run = await watch(world, ['ok', 'unreachable', 'unavailable', 'ok', 'throttled']);
    assert.equal(run.error, undefined);
    assert.equal(run.passes, passes);
    assert.equal(run.decision?.replicas, 2);
    assert.equal(failedPasses(run.host).length, 3);
    assert.match(failedPasses(run.host)[0], /cannot reach the cluster/);
  });

  it('fails on the third failed pass in a row, without waiting for the end of the watch', async () => {
    const world = await RunnerWorld.create(emulator);
    await world.deploy({ replicas: '3' });
    const started = world.clock.now();
    const run = await watch(world, ['ok', 'unreachable', 'unreachable', 'unreachable']);
    assert.match(run.error?.message ?? '', /cannot reach the cluster/);
    assert.equal(run.passes, 4);
    assert.equal(failedPasses(run.host).length, 2);
    assert.equal(world.clock.now() - started, 15_000);
  });

  it('fails at once on a refusal, and on a missing StatefulSet', async () => {
    const world = await RunnerWorld.create(emulator);
    await world.deploy({ replicas: '3' });
    const refused = await watch(world, ['ok', 'forbidden']);
    assert.match(refused.error?.message ?? '', /403 Forbidden/);
    assert.equal(refused.passes, 2);
    const empty = await RunnerWorld.create(emulator);
    const missing = await watch(empty, []);
    assert.match(missing.error?.message ?? '', /Input 'runnerName': there is no StatefulSet 'linux-private' in namespace 'runners'/);
    assert.equal(missing.passes, 1);
  });

  it('ends on the last good decision when only its last pass failed, and fails when no pass got through', async () => {
    const world = await RunnerWorld.create(emulator);
    await world.deploy({ replicas: '3' });
    const lastFailed = await watch(world, [...Array(passes - 1).fill('ok'), 'unavailable']);
    assert.equal(lastFailed.error, undefined);
    assert.equal(lastFailed.decision?.replicas, 2);
    const once = await RunnerWorld.create(emulator);
    await once.deploy({ replicas: '3' });
    once.kube.failNext({ verb: 'get', kind: 'StatefulSet' }, errors.unavailable);
    await assert.rejects(once.scale({ mode: 'fixed', replicas: '2' }), /503/, 'a single pass fails on any error');
  });

  it('as a property: the task fails exactly when a pass is refused or three fail in a row, or no pass got through', async () => {
    const outcome = fc.oneof(
      { weight: 6, arbitrary: fc.constant<Outcome>('ok') },
      { weight: 4, arbitrary: fc.constantFrom<Outcome>('unreachable', 'throttled', 'unavailable') },
      { weight: 1, arbitrary: fc.constantFrom<Outcome>('forbidden', 'unauthorized', 'invalid') },
    );
    // One pool for all runs: each watch leaves it at 2 replicas, as it found it after the first.
    const world = await RunnerWorld.create(emulator);
    await world.deploy({ replicas: '3' });
    await fc.assert(
      fc.asyncProperty(fc.array(outcome, { minLength: passes, maxLength: passes }), async (outcomes) => {
        const expected = readmeRules(outcomes);
        const run = await watch(world, outcomes);
        assert.equal(run.passes, expected.passes);
        if (expected.fails === undefined) assert.equal(run.decision?.replicas, 2);
        else assert.equal(run.error, errors[expected.fails]);
        assert.equal(failedPasses(run.host).length, expected.warnings);
      }),
      { numRuns: 40 },
    );
  });
});

/** The README's rules, pass by pass: how many passes run, which error ends the task, how many passes warn. */
function readmeRules(outcomes: Outcome[]): { passes: number; fails?: Exclude<Outcome, 'ok'>; warnings: number } {
  let inARow = 0;
  let warnings = 0;
  let anyGood = false;
  for (const [n, outcome] of outcomes.entries()) {
    if (outcome === 'ok') {
      inARow = 0;
      anyGood = true;
      continue;
    }
    if (!transient.has(outcome) || ++inARow === 3) return { passes: n + 1, fails: outcome, warnings };
    warnings++;
  }
  return anyGood ? { passes: outcomes.length, warnings } : { passes: outcomes.length, fails: outcomes.at(-1) as Exclude<Outcome, 'ok'>, warnings };
}
