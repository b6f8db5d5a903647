// The autoscaler's Azure DevOps client (issue #30): every caller gets each agent's capabilities as a full read would
// give them, but a look at the pool reads them only for registrations that changed since they were read
// (src/core/capability-reads.ts): one by one while few changed, all at once in a burst. Kept in memory, for one term of
// the lease: a restarted autoscaler, or one that takes its lease again, starts with one full read.
import type { AgentInfo } from '../core/model.js';
import { DelegatingAdoClient, type AdoClient, type AgentListIncludes, type RegisteredAgent } from '../core/ports/ado.js';
import type { Clock } from '../core/ports/clock.js';
import type { AgentRegistration } from '../core/registration.js';
import { capabilityReads, changedRegistrations, forget, keepListed, lookReadsCapabilities, newCapabilityMemory, remember } from '../core/capability-reads.js';

export class KeptCapabilities extends DelegatingAdoClient {
  private memory = newCapabilityMemory();

  constructor(
    inner: AdoClient,
    private readonly clock: Clock,
  ) {
    super(inner);
  }

  /** Forgets everything: what another autoscaler did while this one held no lease is not known. */
  startFresh(): void {
    this.memory = newCapabilityMemory();
  }

  /** The pool's agents with their capabilities; only `include` { capabilities: false } skips what is kept. */
  override async listAgents(poolId: number, name?: string, include?: AgentListIncludes): Promise<AgentInfo[]> {
    if (include?.capabilities === false) return this.inner.listAgents(poolId, name, include);
    // One agent by name (a registration, a retirement between passes): its capabilities cost little in one call.
    if (name !== undefined) {
      const named = await this.inner.listAgents(poolId, name);
      remember(this.memory, named);
      return named;
    }
    if (lookReadsCapabilities(this.memory, this.clock.now())) return this.readAll(poolId);
    const looked = await this.inner.listAgents(poolId, undefined, { capabilities: false });
    keepListed(this.memory, looked);
    const changed = new Set(changedRegistrations(looked, this.memory));
    if (capabilityReads([...changed]) === 'all') return this.readAll(poolId);
    // One at a time, each kept as soon as read: a read that fails fails the look, and loses none read before it.
    const read = new Map<number, AgentInfo>();
    for (const id of changed) {
      const agent = await this.inner.getAgent(poolId, id);
      if (agent === undefined) continue;
      remember(this.memory, [agent]);
      read.set(id, agent);
    }
    // A changed agent as read by id, all of it (newer than the look); one deleted since is left out, as the next look
    // would leave it; the others as looked, with what is kept of them.
    return looked.flatMap((agent) => {
      if (changed.has(agent.id)) return read.get(agent.id) ?? [];
      const known = this.memory.agents.get(agent.id);
      return known === undefined ? [] : [{ ...agent, capabilities: known.capabilities }];
    });
  }

  private async readAll(poolId: number): Promise<AgentInfo[]> {
    const at = this.clock.now();
    const agents = await this.inner.listAgents(poolId);
    remember(this.memory, agents, { at });
    return agents;
  }

  override async getAgent(poolId: number, agentId: number): Promise<AgentInfo | undefined> {
    const agent = await this.inner.getAgent(poolId, agentId);
    if (agent === undefined) forget(this.memory, [agentId]);
    else remember(this.memory, [agent]);
    return agent;
  }

  // What it writes itself changes the registration: kept as the answer shows it, else read again at the next look.
  override async registerAgent(poolId: number, agent: AgentRegistration, agentId?: number): Promise<RegisteredAgent> {
    if (agentId !== undefined) forget(this.memory, [agentId]);
    const registered = await this.inner.registerAgent(poolId, agent, agentId);
    if (registered.written === undefined) forget(this.memory, [registered.id]);
    else remember(this.memory, [{ id: registered.id, ...registered.written }]);
    return registered;
  }

  override async deleteAgent(poolId: number, agentId: number): Promise<boolean> {
    forget(this.memory, [agentId]);
    return this.inner.deleteAgent(poolId, agentId);
  }
}
