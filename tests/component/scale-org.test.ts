// An organization's autoscalers under Azure DevOps' consumption limit (issue #26): the real autoscaler loops, all on
// one PAT, against the emulator with the limit on and its TSTU cost model, in simulated time (tests/support/org-sim.ts).
// Smaller than `npm run bench -- scale-org` (10 runners polling every 2 s spend the allowance as fast as 50 polling
// every 5 s would), and asserted on shape only: the budget, every slot, convergence after a 429 storm.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { tstuLimit } from '../../emulator/src/rate-limit.js';
import { CallsInFlight, organization, orgFigures, peakWindowTstus, simulateOrganization } from '../support/org-sim.js';

describe('an organization of autoscalers on one PAT', () => {
  it('stays under the rate limit with room to spare, requests every job\'s slot, and converges after a 429 storm', async () => {
    const run = await simulateOrganization({
      ...organization, pools: 2, runnersPerPool: 5, slotsPerRunner: 10, pollSeconds: 2, idleMinutes: 10, jobMinutes: [5, 10], burstLimitMinutes: 60,
    });
    const figureList = orgFigures(run);
    const figures = figureList.map(([name, value]) => `${name}: ${value}`).join('\n');
    const { phases, calls, charges, jobs } = run;
    // The storm happened: every autoscaler saw 429s while it lasted, and none outside it.
    assert.ok(calls.some((call) => call.status === 429 && call.at >= phases.stormStart && call.at < phases.stormEnd), figures);
    assert.equal(calls.filter((call) => call.status === 429 && (call.at < phases.stormStart || call.at >= phases.stormEnd)).length, 0, `throttled outside the storm\n${figures}`);
    // The organization's TSTUs in any five minutes, idle hour and burst alike, with a tenth of the allowance to spare.
    const peak = peakWindowTstus(charges, phases.idle, phases.end);
    assert.ok(peak <= 0.9 * tstuLimit, `peak ${peak.toFixed(1)} TSTUs in five minutes\n${figures}`);
    // After the storm its answers carry no headers (the window emptied while every call was refused): going back to
    // full pace at once, the autoscalers spent a tenth of the allowance in its first minute, all together; by halves,
    // a fortieth.
    const afterStorm = figureList.find(([name]) => name === 'tstu-first-minute-after-storm')![1];
    assert.ok(afterStorm <= 0.05 * tstuLimit, `${afterStorm.toFixed(1)} TSTUs in the first minute after the storm\n${figures}`);
    // The five runners of each pool share its job requests (src/core/shared-look.ts): idle, each looks every 2 s, and
    // alone each look read them (3 000 reads in the ten minutes).
    const { scenario } = run;
    const looks = scenario.pools * scenario.runnersPerPool * scenario.idleMinutes * 60 / scenario.pollSeconds;
    const reads = charges.filter((charge) => charge.at >= phases.idle && charge.at < phases.burst && charge.call === 'GET distributedtask/pools/{id}/jobrequests').length;
    assert.ok(reads <= looks / 2, `${reads} reads of the job requests in ${looks} looks\n${figures}`);
    // Every job's slot requested, every job handed to an agent and done, none cut off.
    assert.equal(jobs.filter((job) => job.slotRequested === undefined).length, 0, figures);
    assert.equal(jobs.filter((job) => job.result !== 'succeeded').length, 0, figures);
    assert.deepEqual(run.cutOff, []);
    // After the storm every pool converged: all jobs done and every runner back at zero before the time ran out.
    assert.ok(phases.end < phases.burst + 60 * 60_000, figures);
    assert.deepEqual([...run.finalReplicas.values()].filter((count) => count !== 0), [], figures);
  });

  it('lets the time move on when a client gives up on a call the emulator holds on the simulated clock', async () => {
    const flights = new CallsInFlight();
    let release = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    let answered = () => {};
    const sent = new Promise<void>((resolve) => (answered = resolve));
    const server = createServer((_req, res) => {
      void flights.hold(released).then(() => res.end('late', answered));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const statuses: number[] = [];
    // The client's timeout is real time, the hold simulated time: the client gives up while the call is held.
    await assert.rejects(flights.fetch((status) => statuses.push(status))(url, { signal: AbortSignal.timeout(50) }), { name: 'TimeoutError' });
    assert.equal(flights.allHeld, true, 'the one call in flight is held: the time may move');
    release();
    await sent;
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(flights.allHeld, true);
    assert.deepEqual(statuses, [], 'an answer after the client gave up is nobody\'s');
    server.close();
  });
});
