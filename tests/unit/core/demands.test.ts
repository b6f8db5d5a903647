// Demand parsing and matching (the rules the emulator and ScaleRunnerPool share).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agentSatisfiesDemands, formatDemand, parseDemand } from '../../../src/core/demands.js';
import { pickAgent, queueRejection } from '../../../emulator/src/scheduling.js';

test('parses the three demand forms the service writes', () => {
  assert.deepEqual(parseDemand('java'), { kind: 'exists', name: 'java' });
  assert.deepEqual(parseDemand('tool -equals /bin/x'), { kind: 'equals', name: 'tool', value: '/bin/x' });
  assert.deepEqual(parseDemand('Agent.Version -gtVersion 2.182.1'), { kind: 'minVersion', name: 'Agent.Version', value: '2.182.1' });
  assert.equal(formatDemand(parseDemand('Agent.Version -gtVersion 2.182.1')), 'Agent.Version -gtVersion 2.182.1');
  assert.throws(() => parseDemand('x -lessThan 3'), /Unsupported demand operator/);
  assert.throws(() => parseDemand('  '), /empty/);
});

test('matches names and -equals values case-insensitively', () => {
  const caps = { Java: '/usr/bin/java', OS: 'Linux' };
  assert.equal(agentSatisfiesDemands(caps, ['java']), true);
  assert.equal(agentSatisfiesDemands(caps, ['os -equals linux']), true);
  assert.equal(agentSatisfiesDemands(caps, ['os -equals windows']), false);
  assert.equal(agentSatisfiesDemands(caps, ['docker']), false);
  assert.equal(agentSatisfiesDemands(caps, []), true);
});

test('-gtVersion is a minimum version compared numerically', () => {
  assert.equal(agentSatisfiesDemands({ 'Agent.Version': '2.182.1' }, ['Agent.Version -gtVersion 2.182.1']), true);
  assert.equal(agentSatisfiesDemands({ 'Agent.Version': '2.190.0' }, ['Agent.Version -gtVersion 2.182.1']), true);
  assert.equal(agentSatisfiesDemands({ 'Agent.Version': '2.99.9' }, ['Agent.Version -gtVersion 2.182.1']), false);
  assert.equal(agentSatisfiesDemands({ 'Agent.Version': '3' }, ['Agent.Version -gtVersion 2.182.1']), true);
  assert.equal(agentSatisfiesDemands({ 'Agent.Version': 'abc' }, ['Agent.Version -gtVersion 1.0']), false);
});

test('a job goes to the lowest-id online, enabled, idle, matching agent', () => {
  const agent = (id: number, extra: Partial<{ enabled: boolean; online: boolean; busy: boolean }>, capabilities: Record<string, string> = { sh: '/bin/sh' }) =>
    ({ id, enabled: true, online: true, busy: false, capabilities, ...extra });
  const agents = [agent(1, { online: false }), agent(2, { busy: true }), agent(3, { enabled: false }), agent(5, {}), agent(4, {}, {})];
  assert.equal(pickAgent(agents, ['sh'])?.id, 5);
  assert.equal(pickAgent(agents, [])?.id, 4);
  assert.equal(pickAgent(agents, ['docker']), undefined);
});

test('queueing is refused only when no registered agent could ever satisfy the demands', () => {
  const offline = { id: 1, enabled: true, online: false, busy: false, capabilities: { docker: '/usr/bin/docker' } };
  assert.equal(queueRejection('P', [offline], ['docker']), undefined);
  assert.equal(queueRejection('P', [offline], ['gpu']), 'No agent found in pool P which satisfies the specified demands: gpu');
  assert.match(queueRejection('P', [], []) ?? '', /No agents were found in pool P/);
});
