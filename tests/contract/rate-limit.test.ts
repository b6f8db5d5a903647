// The emulator's consumption limit (emulator/src/rate-limit.ts) against what Microsoft documents
// (docs/integrate/concepts/rate-limits.md): per identity, a sliding five minutes, headers before delays, delays of up
// to 30 s on a 200, then 429 — and the window slides: usage returns to 0 five minutes after the last call.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RateLimiter, tstuCost, tstuLimit, windowMs } from '../../emulator/src/rate-limit.js';
import { DEFAULT_PAT, startEmulator } from '../support/emulator.js';
import { RestAdoClient } from '../../src/clients/ado-rest.js';
import { unheldKey } from '../../src/clients/unheld-key.js';

function newLimiter() {
  let now = Date.UTC(2026, 0, 1);
  const clock = { now: () => now, sleep: async (ms: number) => void (now += ms) };
  return { limiter: new RateLimiter(clock), pass: (ms: number) => (now += ms) };
}

describe('the emulator\'s consumption limit', () => {
  it('says nothing while usage is low, then announces the budget, delays, and blocks, per identity', () => {
    const { limiter } = newLimiter();
    assert.deepEqual(limiter.admit('user:a', 10).headers, {});
    let verdict = limiter.admit('user:a', 100);
    assert.equal(verdict.kind, 'pass');
    assert.equal(verdict.headers['X-RateLimit-Remaining'], '90');
    assert.equal(verdict.headers['X-RateLimit-Limit'], String(tstuLimit));
    limiter.admit('user:a', 100);
    verdict = limiter.admit('user:a', 1);
    assert.ok(verdict.kind === 'pass' && verdict.delayMs > 0 && verdict.delayMs <= 30_000, JSON.stringify(verdict));
    assert.equal(verdict.headers['X-RateLimit-Remaining'], '0');
    assert.ok(Number(verdict.headers['Retry-After']) > 0 && verdict.headers['X-RateLimit-Delay'] !== undefined);
    limiter.admit('user:a', 100);
    verdict = limiter.admit('user:a', 1);
    assert.equal(verdict.kind, 'block');
    // Another identity has its own allowance.
    assert.deepEqual(limiter.admit('user:b', 1).headers, {});
  });

  it('slides: what was used leaves the window five minutes later', () => {
    const { limiter, pass } = newLimiter();
    limiter.admit('user:a', 300);
    assert.equal(limiter.admit('user:a', 1).kind, 'block');
    pass(windowMs);
    assert.deepEqual(limiter.admit('user:a', 1).headers, {});
    assert.equal(limiter.usage('user:a'), 1);
  });

  it('charges a read of a pool\'s agents by the agents it returns: one read by name, as one agent', async () => {
    const emulator = await startEmulator({ rateLimit: true });
    try {
      const pool = await emulator.admin.createPool('Charged');
      const ado = new RestAdoClient({ organizationUrl: emulator.orgUrl, token: DEFAULT_PAT.token, sleep: async () => {}, log: () => {} });
      for (let i = 0; i < 50; i++) await ado.registerAgent(pool.id, { name: `slot-${i}`, publicKey: unheldKey(), systemCapabilities: {} });
      const charged = async (read: () => Promise<unknown>) => {
        const before = emulator.store.rateLimiter!.log.length;
        await read();
        return emulator.store.rateLimiter!.log.slice(before).map(({ tstus, call }) => [call, Number(tstus.toFixed(3))]);
      };
      assert.deepEqual(await charged(() => ado.listAgents(pool.id)), [['GET distributedtask/pools/{id}/agents', 0.11]]);
      assert.deepEqual(await charged(() => ado.listAgents(pool.id, 'slot-7')), [['GET distributedtask/pools/{id}/agents?agentName', 0.012]]);
      // What the autoscaler's looks send (src/core/capability-reads.ts): the list without capabilities costs as much by
      // this model, the read of one agent by its id one light call.
      assert.deepEqual(await charged(() => ado.listAgents(pool.id, undefined, { capabilities: false })), [['GET distributedtask/pools/{id}/agents', 0.11]]);
      const [seventh] = await ado.listAgents(pool.id, 'slot-7');
      assert.deepEqual(await charged(() => ado.getAgent(pool.id, seventh.id)), [['GET distributedtask/pools/{id}/agents/{id}', 0.01]]);
    } finally {
      await emulator.stop();
    }
  });

  it('charges lists by their rows and writes more than reads (the model)', () => {
    assert.ok(tstuCost('GET', '/org/_apis/distributedtask/pools/1/agents', { agents: 100, jobRequests: 0 }) > tstuCost('GET', '/org/_apis/distributedtask/pools/1/agents', { agents: 1, jobRequests: 0 }));
    assert.ok(tstuCost('PATCH', '/org/_apis/distributedtask/pools/1/agents/3', { agents: 0, jobRequests: 0 }) > tstuCost('GET', '/org/_apis/connectionData', { agents: 0, jobRequests: 0 }));
  });
});
