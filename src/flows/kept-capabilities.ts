// The autoscaler's Azure DevOps client (issue #30): every caller gets each agent's capabilities as a full read would
// give them, but a look at the pool reads them only for registrations that changed since they were read
// (src/core/capability-reads.ts), one by one while few changed, all at once in a burst. Kept in memory: a restarted
// autoscaler starts with one full read.
import type { AgentInfo } from '../core/model.js';
import { DelegatingAdoClient, type AdoClient, type AgentListIncludes } from '../core/ports/ado.js';
import type { Clock } from '../core/ports/clock.js';
import type { AgentRegistration } from '../core/registration.js';
import { capabilityReads, changedRegistrations, forget, lookReadsCapabilities, newCapabilityMemory, remember } from '../core/capability-reads.js';

export class KeptCapabilities extends DelegatingAdoClient {
  private readonly memory = newCapabilityMemory();

  constructor(
    inner: AdoClient,
    private readonly clock: Clock,
  ) {
    super(inner);
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
    forget(this.memory, [...this.memory.agents.keys()].filter((id) => !looked.some((agent) => agent.id === id)));
    const changed = changedRegistrations(looked, this.memory);
    if (changed.length > 0 && capabilityReads(changed, looked.length) === 'all') return this.readAll(poolId);
    // Read after the look: an agent deleted since is left out, as the next look would leave it.
    const fresh = await Promise.all(changed.map((id) => this.inner.getAgent(poolId, id)));
    remember(this.memory, fresh.filter((agent) => agent !== undefined));
    return looked.flatMap((agent) => {
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

  // What it writes itself changes the registration: read again at the next look.
  override async registerAgent(poolId: number, agent: AgentRegistration, agentId?: number): ReturnType<AdoClient['registerAgent']> {
    if (agentId !== undefined) forget(this.memory, [agentId]);
    const registered = await this.inner.registerAgent(poolId, agent, agentId);
    forget(this.memory, [registered.id]);
    return registered;
  }

  override async deleteAgent(poolId: number, agentId: number): Promise<boolean> {
    forget(this.memory, [agentId]);
    return this.inner.deleteAgent(poolId, agentId);
  }
}
