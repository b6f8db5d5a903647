// An organization's autoscalers under Azure DevOps' consumption limit (issue #26): the real autoscaler loops, all on
// one PAT, against the emulator with the limit on and its TSTU cost model, in simulated time (tests/support/org-sim.ts).
// Smaller than `npm run bench -- scale-org` (10 runners polling every 2 s spend the allowance as fast as 50 polling
// every 5 s would), and asserted on shape only: the budget, every slot, convergence after a 429 storm.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tstuLimit } from '../../emulator/src/rate-limit.js';
import { organization, orgFigures, peakWindowTstus, simulateOrganization } from '../support/org-sim.js';

describe('an organization of autoscalers on one PAT', () => {
  it('stays under the rate limit with room to spare, requests every job\'s slot, and converges after a 429 storm', async () => {
    const run = await simulateOrganization({
      ...organization, pools: 2, runnersPerPool: 5, slotsPerRunner: 10, pollSeconds: 2, idleMinutes: 10, jobMinutes: [5, 10], burstLimitMinutes: 60,
    });
    const figures = orgFigures(run).map(([name, value]) => `${name}: ${value}`).join('\n');
    const { phases, calls, charges, jobs } = run;
    // The storm happened: every autoscaler saw 429s while it lasted, and none outside it.
    assert.ok(calls.some((call) => call.status === 429 && call.at >= phases.stormStart && call.at < phases.stormEnd), figures);
    assert.equal(calls.filter((call) => call.status === 429 && (call.at < phases.stormStart || call.at >= phases.stormEnd)).length, 0, `throttled outside the storm\n${figures}`);
    // The organization's TSTUs in any five minutes, idle hour and burst alike, with a tenth of the allowance to spare.
    const peak = peakWindowTstus(charges, phases.idle, phases.end);
    assert.ok(peak <= 0.9 * tstuLimit, `peak ${peak.toFixed(1)} TSTUs in five minutes\n${figures}`);
    // Every job's slot requested, every job handed to an agent and done, none cut off.
    assert.equal(jobs.filter((job) => job.slotRequested === undefined).length, 0, figures);
    assert.equal(jobs.filter((job) => job.result !== 'succeeded').length, 0, figures);
    assert.deepEqual(run.cutOff, []);
    // After the storm every pool converged: all jobs done and every runner back at zero before the time ran out.
    assert.ok(phases.end < phases.burst + 60 * 60_000, figures);
    assert.deepEqual([...run.finalReplicas.values()].filter((count) => count !== 0), [], figures);
  });
});
