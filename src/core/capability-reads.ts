// Which agents' capabilities the autoscaler reads again (issue #30): its looks read the pool's agents without them, and
// it keeps each agent's capabilities until its registration changes. Pure; src/flows/kept-capabilities.ts acts.
//
// An agent reports its system capabilities when it opens a session (the agent's MessageListener.CreateSessionAsync
// sends them with the session), and opening one is a status change: the service sets statusChangedOn. So capabilities
// read after the last status change are still the agent's, whoever holds its key, until the next change. What the
// autoscaler writes itself (a re-key, a placeholder) it keeps from the service's answer; a person's edit of user
// capabilities changes no status: the whole pool is read again every `fullReadMs` for that.
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
  /** The last read of all found more registrations changed than a look reads by id (a burst, which lasts). */
  burst: boolean;
}

/** How long capabilities no status change would tell of (a person's user capabilities) may go unseen. */
export const fullReadMs = 10 * 60_000;

/**
 * The most agents a look reads by id. A list costs as many TSTUs with capabilities as without (the emulator's model,
 * emulator/src/rate-limit.ts: 0.01 a call and 0.002 an agent listed), so every read by id is a call more: a look costs
 * at most one list and this many light calls; beyond, it reads the list again with capabilities.
 */
export const maxReadsById = 4;

export function newCapabilityMemory(): CapabilityMemory {
  return { agents: new Map(), burst: false };
}

/** Whether the next look reads the capabilities itself: nothing is known yet, a burst goes on, or a full read is due. */
export function lookReadsCapabilities(memory: CapabilityMemory, now: number): boolean {
  return memory.fullReadAt === undefined || memory.burst || now - memory.fullReadAt >= fullReadMs;
}

/**
 * Whether an agent's registration changed since its capabilities were read: the same instant in another format is no
 * change; a date missing or unreadable on either side is one (a service that sends none: every look reads them).
 */
function changedSince(known: KnownCapabilities | undefined, statusChangedOn: string | undefined): boolean {
  if (known?.statusChangedOn === undefined || statusChangedOn === undefined) return true;
  const [then, now] = [Date.parse(known.statusChangedOn), Date.parse(statusChangedOn)];
  return Number.isNaN(then) || Number.isNaN(now) || then !== now;
}

/** The agents of a look whose capabilities are not known as of their last status change. */
export function changedRegistrations(looked: ReadonlyArray<Pick<AgentInfo, 'id' | 'statusChangedOn'>>, memory: CapabilityMemory): number[] {
  return looked.filter((agent) => changedSince(memory.agents.get(agent.id), agent.statusChangedOn)).map((agent) => agent.id);
}

/** How to read the changed agents' capabilities once a look (without them) is done: each by its id while few, else all at once. */
export function capabilityReads(changed: readonly number[]): 'each' | 'all' {
  return changed.length <= maxReadsById ? 'each' : 'all';
}

/** Keeps what a read with capabilities returned; `whole`: the read listed the pool, so agents it did not list are gone. */
export function remember(memory: CapabilityMemory, agents: ReadonlyArray<Pick<AgentInfo, 'id' | 'statusChangedOn' | 'capabilities'>>, whole?: { at: number }): void {
  if (whole !== undefined) {
    // A burst goes on while a read of all finds more changed than a look reads by id (the first read, with nothing
    // known, is none).
    memory.burst = memory.fullReadAt !== undefined && capabilityReads(changedRegistrations(agents, memory)) === 'all';
    memory.agents.clear();
    memory.fullReadAt = whole.at;
  }
  for (const agent of agents) memory.agents.set(agent.id, { statusChangedOn: agent.statusChangedOn, capabilities: agent.capabilities });
}

/** Drops agents whose registration the autoscaler itself changed or deleted. */
export function forget(memory: CapabilityMemory, agentIds: Iterable<number>): void {
  for (const id of agentIds) memory.agents.delete(id);
}

/** Drops the agents a look no longer lists. */
export function keepListed(memory: CapabilityMemory, looked: readonly AgentInfo[]): void {
  const listed = new Set(looked.map((agent) => agent.id));
  forget(memory, [...memory.agents.keys()].filter((id) => !listed.has(id)));
}
