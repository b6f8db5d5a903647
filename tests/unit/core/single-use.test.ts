// Single-use registrations (src/core/single-use.ts), on examples and as properties over random pools of agents and pods.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { keyHolder, mayEnable, placeholderRegistration, planSingleUse, podsWithLiveAgents } from '../../../src/core/single-use.js';
import type { AgentInfo } from '../../../src/core/model.js';
import type { KubeObject } from '../../../src/core/ports/kube.js';

const agent = (slot: number, holder: string | undefined, extra: Partial<AgentInfo> = {}): AgentInfo => ({
  id: 100 + slot, name: `linux-${slot}`, status: 'offline', enabled: true,
  capabilities: { 'Agent.Name': `linux-${slot}`, docker: '/usr/bin/docker', ...(holder && { RUNNER_POD_UID: holder }) }, ...extra,
});
const pod = (uid: string, phase = 'Running', agentState: Record<string, unknown> = { running: {} }): KubeObject => ({
  metadata: { name: `pod-${uid}`, uid }, status: { phase, containerStatuses: [{ name: 'agent', state: agentState }] },
} as unknown as KubeObject);

describe('single-use registrations', () => {
  it('counts a pod\'s agent as live until its container terminated or the pod finished', () => {
    const live = podsWithLiveAgents([pod('a'), pod('b', 'Pending', { waiting: {} }), pod('c', 'Running', { terminated: { exitCode: 143 } }), pod('d', 'Failed'), pod('e', 'Succeeded')]);
    assert.deepEqual([...live].sort(), ['a', 'b']);
  });

  it('retires the registrations whose pod\'s agent ended, disables busy ones, leaves placeholders and live ones alone', () => {
    const ours = [agent(0, 'gone'), agent(1, 'live', { busyWith: 7, status: 'online' }), agent(2, undefined, { enabled: false }), agent(3, 'live2'), agent(4, 'ended', { busyWith: 8 })];
    const plan = planSingleUse('linux', ours, new Set(['live', 'live2']));
    assert.deepEqual(plan.retire.map((a) => a.name), ['linux-0', 'linux-4']);
    assert.deepEqual(plan.disable.map((a) => a.name), ['linux-1']);
  });

  it('enables only a registration a live pod holds', () => {
    const live = new Set(['live']);
    assert.equal(mayEnable(agent(0, 'live'), live), true);
    assert.equal(mayEnable(agent(0, 'gone'), live), false);
    assert.equal(mayEnable(agent(0, undefined), live), false);
  });

  it('leaves a placeholder disabled, with the same capabilities but no pod and the key given', () => {
    const key = { exponent: 'AQAB', modulus: 'x'.repeat(344) };
    const placeholder = placeholderRegistration(agent(3, 'gone'), key);
    assert.deepEqual(placeholder, { name: 'linux-3', publicKey: key, systemCapabilities: { 'Agent.Name': 'linux-3', docker: '/usr/bin/docker' }, enabled: false });
  });

  it('never retires a live pod\'s registration, retires every other that holds a key, and never leaves one to enable', () => {
    const uids = ['p0', 'p1', 'p2', 'p3', 'p4'];
    fc.assert(fc.property(
      fc.array(fc.record({ holder: fc.option(fc.constantFrom(...uids), { nil: undefined }), busy: fc.boolean(), enabled: fc.boolean() }), { maxLength: 8 }),
      fc.subarray(uids),
      (slots, liveList) => {
        const live = new Set(liveList);
        const ours = slots.map((s, i) => agent(i, s.holder, { enabled: s.enabled, ...(s.busy && { busyWith: i }) }));
        const { retire, disable } = planSingleUse('linux', ours, live);
        for (const a of ours) {
          const holder = keyHolder(a);
          assert.equal(retire.includes(a), holder !== undefined && !live.has(holder));
          if (retire.includes(a)) assert.equal(mayEnable(a, live), false);
          if (disable.includes(a)) assert.ok(a.busyWith !== undefined && a.enabled && !retire.includes(a));
        }
      },
    ));
  });
});
