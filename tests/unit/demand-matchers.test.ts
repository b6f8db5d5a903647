// Two demand matchers written apart: the product's (ScaleRunnerPool counts the queued jobs its agents could take) and the
// emulator's (its referee, written from the service's Demand classes). Wherever they part, one of them is wrong.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { agentSatisfiesDemands } from '../../src/core/demands.js';
import { Capabilities, compareDemandVersions, parseServiceDemand, satisfiesAll, type ServiceDemand } from '../../emulator/src/demands.js';
import { pickAgent, queueRejection } from '../../emulator/src/scheduling.js';

// Names and values chosen to collide: case variants, characters whose upper case is special (Kelvin sign, sharp s,
// dotless i), and the version shapes System.Version reads differently from a naive split on dots.
const names = ['java', 'Java', 'JAVA', 'Agent.Version', 'agent.version', 'docker', 'k', '\u212A', 'ß', 'SS', 'ı', 'I'];
const texts = ['linux', 'Linux', 'LINUX', 'linux ', 'a b', 'ß', 'SS', 'ss', '\u212A', 'k', 'K', 'ı', 'i', 'I', '/usr/bin/java', ''];
const versions = [
  '1', '1.2', '1.2.0', '1.2.0.0', '1.2.3.4.5', 'v1.2', '1.2-rc.1', '-1.2', '01.02', ' 1.2', '1. 2', '+1.2', '1.2.', '1..2',
  '2147483647.0', '2147483648.0', '2.182.1', '2.190.0', '3', '3.0', 'abc', '', '4.266.2', '4.266.2-preview', '1.-0',
];
const generatedVersion = fc.array(fc.nat({ max: 12 }), { minLength: 1, maxLength: 5 }).map((parts) => parts.join('.'));
const name = fc.oneof(fc.constantFrom(...names), fc.stringMatching(/^[A-Za-z_.]{1,6}$/));
const value = fc.oneof(fc.constantFrom(...texts, ...versions), generatedVersion, fc.string({ maxLength: 6 }));

/** A demand as the service writes it in a job request (Demand.ToString). */
const demandText = fc.oneof(
  name,
  fc.tuple(name, fc.oneof(fc.constantFrom(...texts), fc.string({ maxLength: 6 }))).map(([n, v]) => `${n} -equals ${v}`),
  fc.tuple(name, fc.oneof(fc.constantFrom(...versions), generatedVersion)).map(([n, v]) => `${n} -gtVersion ${v}`),
).filter((text) => parseServiceDemand(text) !== undefined);

/** An agent's capabilities: one dictionary, so no two names that differ only in case. */
const capabilities = fc.dictionary(name, value, { maxKeys: 6 }).map((caps) => {
  const seen = new Set<string>();
  return Object.fromEntries(Object.entries(caps).filter(([key]) => !seen.has(key.toUpperCase()) && seen.add(key.toUpperCase())));
});

const demands = (...texts: string[]) => texts.map((text) => parseServiceDemand(text) as ServiceDemand);
const serviceVerdict = (caps: Record<string, string>, texts: string[]) =>
  satisfiesAll(new Capabilities(caps), demands(...texts));

test('the product and the emulator match every demand the same way', () => {
  fc.assert(fc.property(capabilities, fc.array(demandText, { maxLength: 3 }), (caps, demands) => {
    assert.equal(agentSatisfiesDemands(caps, demands), serviceVerdict(caps, demands), `capabilities ${JSON.stringify(caps)}, demands ${JSON.stringify(demands)}`);
  }), { numRuns: 5000 });
});

test('the emulator reads demands as Demand.TryParse does', () => {
  assert.deepEqual(parseServiceDemand('java'), { kind: 'exists', name: 'java' });
  assert.deepEqual(parseServiceDemand('os -equals Linux 22'), { kind: 'equals', name: 'os', value: 'Linux 22' });
  assert.deepEqual(parseServiceDemand('Agent.Version -gtVersion 2.182.1'), { kind: 'minimumVersion', name: 'Agent.Version', value: '2.182.1' });
  // The value keeps trailing blanks; the operator is case-sensitive; an unknown operator or an empty value is no demand.
  assert.deepEqual(parseServiceDemand('os -equals linux '), { kind: 'equals', name: 'os', value: 'linux ' });
  for (const invalid of ['os -EQUALS linux', 'x -lessThan 3', 'os -equals ', ' java', 'two words', '']) assert.equal(parseServiceDemand(invalid), undefined, invalid);
});

test('the emulator compares versions as System.Version does', () => {
  assert.equal(compareDemandVersions('1.2', '1.2.0'), -1, 'an unset build number sorts below 0');
  assert.equal(compareDemandVersions('2.182.1', '2.182.1-preview'), 0, 'the text after the first dash is ignored');
  assert.equal(compareDemandVersions('1.2', ' +1.02 '), 0, 'components are Int32.TryParse(NumberStyles.Integer)');
  assert.equal(compareDemandVersions('1.0', '3'), 1, 'a single number is no version, and sorts below every version');
  assert.equal(compareDemandVersions('abc', 'v2'), 0, 'two unreadable versions are equal');
  assert.equal(compareDemandVersions('2147483648.0', '1.0'), -1, 'a component beyond Int32 is unreadable');
});

test('a job goes to the lowest-id online, enabled, idle, matching agent', () => {
  const agent = (id: number, extra: Partial<{ enabled: boolean; online: boolean; busy: boolean }>, capabilities: Record<string, string> = { sh: '/bin/sh' }) =>
    ({ id, enabled: true, online: true, busy: false, capabilities: new Capabilities(capabilities), ...extra });
  const agents = [agent(1, { online: false }), agent(2, { busy: true }), agent(3, { enabled: false }), agent(5, {}), agent(4, {}, {})];
  assert.equal(pickAgent(agents, demands('sh'))?.id, 5);
  assert.equal(pickAgent(agents, [])?.id, 4);
  assert.equal(pickAgent(agents, demands('docker')), undefined);
});

test('queueing is refused only when no registered agent could ever satisfy the demands', () => {
  const offline = { id: 1, enabled: true, online: false, busy: false, capabilities: new Capabilities({ docker: '/usr/bin/docker' }) };
  assert.equal(queueRejection('P', [offline], demands('docker')), undefined);
  assert.equal(queueRejection('P', [offline], demands('gpu')), 'No agent found in pool P which satisfies the specified demands: gpu');
  assert.match(queueRejection('P', [], []) ?? '', /No agents were found in pool P/);
});
