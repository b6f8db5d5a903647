// Demand parsing and matching as ScaleRunnerPool does it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agentSatisfiesDemands, formatDemand, parseDemand } from '../../../src/core/demands.js';

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
  // The value is compared as written, and case is ignored one character at a time (.NET OrdinalIgnoreCase).
  assert.equal(agentSatisfiesDemands(caps, ['os -equals linux ']), false);
  assert.equal(agentSatisfiesDemands({ unit: 'k' }, ['unit -equals \u212A']), false);
});

test('-gtVersion is a minimum version, read as a .NET System.Version', () => {
  const meets = (have: string, want: string) => agentSatisfiesDemands({ 'Agent.Version': have }, [`Agent.Version -gtVersion ${want}`]);
  assert.equal(meets('2.182.1', '2.182.1'), true);
  assert.equal(meets('2.190.0', '2.182.1'), true);
  assert.equal(meets('2.99.9', '2.182.1'), false);
  assert.equal(meets('4.266.2-preview', '4.266.2'), true);
  // A single number is no System.Version, and an unwritten component counts below 0.
  assert.equal(meets('3', '2.182.1'), false);
  assert.equal(meets('1.2', '1.2.0'), false);
  assert.equal(meets('abc', '1.0'), false);
  // The service sorts an unreadable version below every other: a demand it cannot read is met by any value.
  assert.equal(meets('abc', 'v2'), true);
});
