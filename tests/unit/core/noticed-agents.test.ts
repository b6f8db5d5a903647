// What the autoscaler keeps of its pods' job notices (src/core/noticed-agents.ts): how many looks a notice gets, and
// which looks count for it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { looksPerNotice, NoticedAgents } from '../../../src/core/noticed-agents.js';
import type { AgentInfo } from '../../../src/core/model.js';

const idle: AgentInfo = { id: 7, name: 'runner-0', enabled: true, status: 'online', capabilities: {} };
const owned = () => true;
const pending = (noticed: NoticedAgents) => noticed.due() !== Number.POSITIVE_INFINITY;

describe('a notice\'s looks', () => {
  it(`lasts ${looksPerNotice} looks that show its registration idle, no fewer`, () => {
    const noticed = new NoticedAgents();
    assert.equal(noticed.take(7, 1000), true);
    for (let look = 1; look < looksPerNotice; look++) {
      noticed.looked([idle], owned, 1000 + look);
      assert.ok(pending(noticed), `forgotten after ${look} idle look(s)`);
    }
    noticed.looked([idle], owned, 2000);
    assert.ok(!pending(noticed));
  });

  it('does not count a look that started before the notice was taken (it landed mid-pass)', () => {
    const noticed = new NoticedAgents();
    noticed.take(7, 1000);
    noticed.looked([idle], owned, 999);
    noticed.looked([idle], owned, 999);
    noticed.looked([idle], owned, 999);
    assert.ok(pending(noticed), 'a stale look used the notice up');
  });

  it('starts over when the id is noticed again while pending: a hostile early notice cannot spend the real one\'s looks', () => {
    const noticed = new NoticedAgents();
    noticed.take(7, 1000);
    for (let look = 1; look < looksPerNotice; look++) noticed.looked([idle], owned, 1000 + look);
    assert.equal(noticed.take(7, 5000), false, 'a repeat is no news');
    for (let look = 1; look < looksPerNotice; look++) noticed.looked([idle], owned, 5000 + look);
    assert.ok(pending(noticed), 'the real notice got only the looks the early one had left');
  });

  it('is used up by a look that shows its registration busy, stale or not, and forgotten once not owned', () => {
    const noticed = new NoticedAgents();
    noticed.take(7, 1000);
    noticed.looked([{ ...idle, busyWith: 1 }], owned, 500);
    assert.ok(!pending(noticed));
    assert.equal(noticed.take(7, 2000), false, 'used: more notices change nothing');
    noticed.take(8, 2000);
    noticed.looked([], () => false, 3000);
    assert.ok(!pending(noticed));
  });
});
