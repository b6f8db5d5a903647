// How long jobs waited for this runner's agents: which jobs count, each once, and the last day's median and p95.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { firstLookMs, jobStarts, recordStarts, summarizeWaits, waitWindowMs, type JobStart, type WaitHistory } from '../../../src/core/job-wait.js';
import type { AgentInfo } from '../../../src/core/model.js';
import type { JobRequest } from '../../../src/core/ports/ado.js';

const agent = (name: string): AgentInfo => ({ id: 1, name, status: 'online', enabled: true, capabilities: {} });
const ours = [agent('linux-0'), agent('linux-1')];
const at = (seconds: number) => new Date(Date.UTC(2026, 11, 6, 9) + seconds * 1000).toISOString();
const job = (requestId: number, extra: Partial<JobRequest>): JobRequest => ({ requestId, demands: [], ...extra });

describe('job waits', () => {
  it('counts only jobs one of this runner\'s agents received, from queueing to receipt', () => {
    const starts = jobStarts(ours, [
      job(1, { reservedAgentName: 'linux-0', pipeline: 'CI', queueTime: at(0), receiveTime: at(12) }),
      job(2, { reservedAgentName: 'linux-1', queueTime: at(0), receiveTime: at(3.5) }),
      job(3, { reservedAgentName: 'windows-0', pipeline: 'CI', queueTime: at(0), receiveTime: at(1) }),
      job(4, { reservedAgentName: 'linux-0', pipeline: 'CI', queueTime: at(0) }),
      job(5, { pipeline: 'CI', queueTime: at(0) }),
      // Clocks of the service's machines may disagree by a little: never a negative wait.
      job(6, { reservedAgentName: 'linux-1', pipeline: 'Nightly', queueTime: at(5), receiveTime: at(4) }),
    ]);
    assert.deepEqual(starts.map(({ requestId, pipeline, waitSeconds }) => ({ requestId, pipeline, waitSeconds })), [
      { requestId: 1, pipeline: 'CI', waitSeconds: 12 },
      { requestId: 2, pipeline: 'unknown', waitSeconds: 3.5 },
      { requestId: 6, pipeline: 'Nightly', waitSeconds: 0 },
    ]);
  });

  it('counts every started job once, however many looks see it, and forgets what finished', () => {
    const start = (requestId: number, second: number): JobStart => ({ requestId, pipeline: 'CI', waitSeconds: 1, startedAt: Date.parse(at(second)) });
    fc.assert(fc.property(
      // Each look: which of ten jobs are started and unfinished. A job runs over consecutive looks, once.
      fc.array(fc.tuple(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 1, max: 4 })), { maxLength: 10 }),
      (runs) => {
        const looks: JobStart[][] = Array.from({ length: 20 }, () => []);
        runs.forEach(([from, length], requestId) => {
          for (let look = from; look < from + length; look++) looks[look].push(start(requestId, from));
        });
        let history: WaitHistory | undefined;
        const counted: number[] = [];
        looks.forEach((starts, look) => {
          const recorded = recordStarts(history, starts, starts.map((s) => s.requestId), Date.parse(at(look)));
          history = recorded.history;
          counted.push(...recorded.fresh.map((fresh) => fresh.requestId));
          assert.deepEqual([...history.counted].sort(), starts.map((s) => s.requestId).sort(), 'only unfinished jobs are remembered');
        });
        assert.deepEqual(counted.sort((a, b) => a - b), runs.map((_, requestId) => requestId));
        assert.equal(history?.recent.length ?? 0, runs.length);
      },
    ));
  });

  it('at a new process\'s first look counts only jobs just received: the older ones a predecessor counted', () => {
    const now = Date.parse(at(3600));
    const running = { requestId: 1, pipeline: 'CI', waitSeconds: 4, startedAt: now - 3 * 3600_000 };
    const just = { requestId: 2, pipeline: 'CI', waitSeconds: 6, startedAt: now - firstLookMs + 1000 };
    const first = recordStarts(undefined, [running, just], [1, 2], now);
    assert.deepEqual(first.fresh.map((start) => start.requestId), [2]);
    assert.deepEqual(recordStarts(first.history, [running, just], [1, 2], now + 5000).fresh, [], 'and neither again');
  });

  it('keeps counting a running job that a look showed on no agent of this runner', () => {
    const start = { requestId: 7, pipeline: 'CI', waitSeconds: 4, startedAt: 0 };
    const seen = recordStarts(undefined, [start], [7], 0);
    const hidden = recordStarts(seen.history, [], [7], 5000);
    assert.deepEqual(recordStarts(hidden.history, [start], [7], 10_000).fresh, [], 'counted once');
  });

  it('summarizes the last day: the median, and the 95th percentile by nearest rank', () => {
    const now = Date.parse(at(0));
    const recent = [...Array.from({ length: 100 }, (_, i) => ({ at: now - 1000 * (i + 1), seconds: i + 1 })), { at: now - waitWindowMs - 1, seconds: 5000 }];
    assert.deepEqual(summarizeWaits({ counted: new Set(), recent }, now), { jobs: 100, medianSeconds: 50.5, p95Seconds: 95 });
    assert.deepEqual(summarizeWaits({ counted: new Set(), recent: [{ at: now, seconds: 7 }] }, now), { jobs: 1, medianSeconds: 7, p95Seconds: 7 });
    assert.equal(summarizeWaits(undefined, now), undefined);
    assert.equal(summarizeWaits({ counted: new Set(), recent: [{ at: now - waitWindowMs, seconds: 7 }] }, now), undefined, 'a day old is out');
  });

  it('keeps a day of waits, and drops the older ones as days go by', () => {
    const first = recordStarts(undefined, [{ requestId: 1, pipeline: 'CI', waitSeconds: 4, startedAt: 0 }], [1], 0);
    const later = recordStarts(first.history, [{ requestId: 2, pipeline: 'CI', waitSeconds: 9, startedAt: waitWindowMs }], [2], waitWindowMs);
    assert.deepEqual(later.history.recent, [{ at: waitWindowMs, seconds: 9 }]);
  });
});
