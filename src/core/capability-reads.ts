// Which agents' capabilities the autoscaler reads again (issue #30): its looks read the pool's agents without them, and
// it keeps each agent's capabilities until its registration changes. Pure; src/flows/kept-capabilities.ts acts.
//
// An agent reports its system capabilities when it opens a session (the agent's MessageListener.CreateSessionAsync
// sends them with the session), and opening one is a status change: the service sets statusChangedOn. So capabilities
// read after the last status change are still the agent's, whoever holds its key, until the next change. What the
// autoscaler writes itself (a re-key, a placeholder) counts as changed; a person's edit of user capabilities changes no
// status: the whole pool is read again every `fullReadMs` for that.
import type { AgentInfo } from './model.js';

/** What is kept of one agent: its capabilities, and the status change they were read after. */
export interface KnownCapabilities {
  statusChangedOn?: string;
  capabilities: Record<string, string>;
}

export interface CapabilityMemory {
  /** By agent id. */
  agents: Map<number, KnownCapabilities>;
  /** When the whole pool's capabilities were last read. */
  fullReadAt?: number;
  /** The last look found so many registrations changed that one read of all served them (a burst, which lasts). */
  burst: boolean;
}

/** How long capabilities no status change would tell of (a person's user capabilities) may go unseen. */
export const fullReadMs = 10 * 60_000;

/**
 * The emulator's TSTU model (emulator/src/rate-limit.ts `tstuCost`): a call 0.01, plus 0.002 per agent a list returns.
 * A read of one agent is one call.
 */
const callTstus = 0.01;
const listedAgentTstus = 0.002;

export function newCapabilityMemory(): CapabilityMemory {
  return { agents: new Map(), burst: false };
}

/** Whether the next look reads the capabilities itself: nothing is known yet, a burst goes on, or a full read is due. */
export function lookReadsCapabilities(memory: CapabilityMemory, now: number): boolean {
  return memory.fullReadAt === undefined || memory.burst || now - memory.fullReadAt >= fullReadMs;
}

/** The agents of a look whose capabilities are not known as of their last status change (a service that sends no date: all). */
export function changedRegistrations(looked: readonly AgentInfo[], memory: CapabilityMemory): number[] {
  return looked.filter((agent) => {
    const known = memory.agents.get(agent.id);
    return known === undefined || agent.statusChangedOn === undefined || known.statusChangedOn !== agent.statusChangedOn;
  }).map((agent) => agent.id);
}

/**
 * How to read the changed agents' capabilities once a look (without them) is done: each by its id while those calls
 * cost no more than one read of the whole pool (k × 0.01 ≤ 0.01 + 0.002 × n, i.e. k ≤ 1 + n / 5), else all at once.
 * In bytes the reads one by one always win (each returns one agent, the full read every one).
 */
export function capabilityReads(changed: readonly number[], poolSize: number): 'each' | 'all' {
  return changed.length * callTstus <= callTstus + listedAgentTstus * poolSize ? 'each' : 'all';
}

/** Keeps what a read with capabilities returned; `whole`: the read listed the pool, so agents it did not list are gone. */
export function remember(memory: CapabilityMemory, agents: readonly AgentInfo[], whole?: { at: number }): void {
  if (whole !== undefined) {
    // A burst goes on while a read of all finds more changed than reads one by one would serve (the first read, with
    // nothing known, is none).
    memory.burst = memory.fullReadAt !== undefined && capabilityReads(changedRegistrations(agents, memory), agents.length) === 'all';
    memory.agents.clear();
    memory.fullReadAt = whole.at;
  }
  for (const agent of agents) memory.agents.set(agent.id, { statusChangedOn: agent.statusChangedOn, capabilities: agent.capabilities });
}

/** Drops agents whose registration the autoscaler itself changed or deleted, or a look no longer lists. */
export function forget(memory: CapabilityMemory, agentIds: Iterable<number>): void {
  for (const id of agentIds) memory.agents.delete(id);
}
