// Standby on a schedule: the windows as typed, each problem named by line, the count at any instant in the window's own
// time zone (summer time included), and the decision that says which window set it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseStandbySchedule, standbyAt } from '../../../src/core/standby-schedule.js';
import { decideScale } from '../../../src/core/scale-decision.js';
import { readDeployOptions } from '../../../src/core/deploy-options.js';
import { autoscalerEnvironment, readAutoscalerOptions } from '../../../src/core/autoscaler-options.js';
import { InputReader } from '../../../src/core/inputs.js';
import { autoscalerKeyMaker } from '../../../src/clients/autoscaler-keys.js';
import { inputProblems, MemoryHost } from '../../support/memory-host.js';

const office = 'Mon-Fri 07:00-19:00 Europe/Berlin 4\nSat 09:00-13:00 America/New_York 1\n# the night shift\nFri 22:00-06:00 UTC 2';
const windows = parseStandbySchedule(office, 10).windows;
const at = (iso: string) => standbyAt(0, windows, new Date(iso)).standby;

describe('standby schedule', () => {
  it('reads windows, skipping blank lines and comments', () => {
    const parsed = parseStandbySchedule(`  Mon-Fri   07:00-19:00 Europe/Berlin 4  \n\n${office}`, 10);
    assert.deepEqual(parsed.problems, []);
    assert.deepEqual(parsed.windows[0], { text: 'Mon-Fri 07:00-19:00 Europe/Berlin 4', days: [0, 1, 2, 3, 4], start: 420, end: 1140, timeZone: 'Europe/Berlin', standby: 4 });
    assert.deepEqual(parseStandbySchedule('Fri-Mon 00:00-24:00 UTC 1', 10).windows[0].days, [0, 4, 5, 6]);
    assert.deepEqual(parseStandbySchedule('* 00:00-24:00 UTC 1', 10).windows[0].days, [0, 1, 2, 3, 4, 5, 6]);
  });

  it('names every bad line and what is wrong with it', () => {
    const { problems } = parseStandbySchedule([
      'Mon-Fri 07:00-19:00 Europe/Berlin', 'Mon-Fry 07:00-19:00 UTC 1', 'Mon 7:00-19:00 UTC 1', 'Mon 07:00-25:00 UTC 1',
      'Mon 07:00-07:00 UTC 1', 'Mon 07:00-19:00 Mars/Olympus 1', 'Mon 07:00-19:00 UTC 11', 'Mon 07:00-19:00 UTC -1',
    ].join('\n'), 10);
    assert.deepEqual(problems.map((problem) => problem.replace(/ \(.*?\): /, ': ').split(': ')[0]), ['line 1', 'line 2', 'line 3', 'line 4', 'line 5', 'line 6', 'line 7', 'line 8']);
    assert.match(problems[0], /write <days> <HH:MM>-<HH:MM> <time zone> <standby>/);
    assert.match(problems[1], /days must be Mon\.\.Sun.*got 'Mon-Fry'/);
    assert.match(problems[5], /'Mars\/Olympus' is not an IANA time zone/);
    assert.match(problems[6], /from 0 to 10 \(maxReplicas\); got '11'/);
  });

  it('counts in each window\'s own time zone, winter and summer', () => {
    // Monday 7 December 2026: Berlin is UTC+1.
    assert.equal(at('2026-12-07T05:59:00Z'), 0);
    assert.equal(at('2026-12-07T06:00:00Z'), 4);
    assert.equal(at('2026-12-07T17:59:00Z'), 4);
    assert.equal(at('2026-12-07T18:00:00Z'), 0);
    // Monday 6 July 2026: Berlin is UTC+2.
    assert.equal(at('2026-07-06T04:59:00Z'), 0);
    assert.equal(at('2026-07-06T05:00:00Z'), 4);
    // Saturday 12 December 2026, 09:30 and 08:30 in New York (UTC-5).
    assert.equal(at('2026-12-12T14:30:00Z'), 1);
    assert.equal(at('2026-12-12T13:30:00Z'), 0);
  });

  it('runs a window past midnight into the next day, and lets the largest of overlapping windows win', () => {
    assert.equal(at('2026-12-10T23:00:00Z'), 0, 'Thursday night: not a window day');
    assert.equal(at('2026-12-11T23:00:00Z'), 2, 'Friday night');
    assert.equal(at('2026-12-12T05:59:00Z'), 2, 'Saturday morning, the Friday window still');
    assert.equal(at('2026-12-12T06:00:00Z'), 0);
    const always = parseStandbySchedule('* 00:00-24:00 Asia/Kolkata 3', 10).windows;
    assert.deepEqual(standbyAt(1, [...windows, ...always], new Date('2026-12-07T06:00:00Z')), { standby: 4, window: windows[0] });
    assert.equal(standbyAt(1, [...windows, ...always], new Date('2026-12-13T12:00:00Z')).standby, 3);
    assert.deepEqual(standbyAt(1, windows, new Date('2026-12-13T12:00:00Z')), { standby: 1 }, 'outside every window: the plain standby');
  });

  it('a window of every day and hour covers every instant, in any zone', () => {
    const zones = ['UTC', 'Europe/Berlin', 'America/St_Johns', 'Asia/Kathmandu', 'Pacific/Chatham', 'Australia/Lord_Howe'];
    fc.assert(fc.property(fc.constantFrom(...zones), fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2040-01-01T00:00:00Z'), noInvalidDate: true }), (zone, instant) => {
      const whole = parseStandbySchedule(`* 00:00-24:00 ${zone} 5`, 10).windows;
      assert.equal(standbyAt(0, whole, instant).standby, 5);
      // Two halves of the day, one past midnight, cover it exactly once each moment.
      const halves = parseStandbySchedule(`* 06:00-18:00 ${zone} 1\n* 18:00-06:00 ${zone} 2`, 10).windows;
      const { window } = standbyAt(0, halves, instant);
      assert.ok(window !== undefined, `${zone} ${instant.toISOString()}`);
    }));
  });

  it('says in the decision which window set the standby count', () => {
    const limits = { minReplicas: 0, maxReplicas: 10, standby: 0, standbySchedule: windows };
    const observed = { currentReplicas: 0, busyOrdinals: [1], queuedJobs: 2 };
    const monday = decideScale({ mode: 'queue', limits }, { ...observed, at: new Date('2026-12-07T08:00:00Z') });
    assert.equal(monday.replicas, 7);
    assert.match(monday.reason, /^1 busy \+ 2 queued \+ 4 standby \(standby schedule: Mon-Fri 07:00-19:00 Europe\/Berlin 4\) = 7; scale up from 0 to 7$/);
    const sunday = decideScale({ mode: 'queue', limits }, { ...observed, at: new Date('2026-12-13T08:00:00Z') });
    assert.match(sunday.reason, /^1 busy \+ 2 queued \+ 0 standby = 3;/);
  });

  it('is read by both tasks and handed to the autoscaler unchanged; a bad line names the input', () => {
    const inputs = { kubernetesServiceConnection: 'k', poolName: 'P', azureDevOpsUrl: 'https://dev.azure.com/c', image: 'r:1', autoscaling: 'inCluster', personalAccessToken: 'p', maxReplicas: '9' };
    const options = readDeployOptions(new InputReader(new MemoryHost({ ...inputs, standbySchedule: office })));
    assert.deepEqual(options.pool.autoscaler?.standbySchedule, windows);
    const env = autoscalerEnvironment({ ...options.pool, autoscalerKeys: autoscalerKeyMaker.make() });
    assert.equal(env.STANDBY_SCHEDULE, 'Mon-Fri 07:00-19:00 Europe/Berlin 4\nSat 09:00-13:00 America/New_York 1\nFri 22:00-06:00 UTC 2');
    assert.deepEqual(readAutoscalerOptions(env).settings.standbySchedule, windows);
    const problems = inputProblems(() => readDeployOptions(new InputReader(new MemoryHost({ ...inputs, standbySchedule: 'Mon-Fri 07:00-19:00 Europe/Berlin 12' }))));
    assert.deepEqual(problems, ["standbySchedule: line 1 ('Mon-Fri 07:00-19:00 Europe/Berlin 12'): the standby count must be a whole number from 0 to 9 (maxReplicas); got '12'."]);
  });
});
