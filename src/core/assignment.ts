// Which runner of a pool counts each waiting job (pure). Several runners can share one Azure DevOps pool (a small image,
// one with Docker, a large one), routed by demands; if every runner counted every job it can take, each would scale up
// for the same job and all but one of the new agents would never get work. So each waiting job is counted by exactly
// one runner, by a rule every runner (and the hub) computes the same way from the same look at the pool.
import { agentSatisfiesDemands, demandsProblem } from './demands.js';
import { identityVariables } from './manifests/pool-labels.js';
import type { AgentInfo } from './model.js';
import type { JobRequest } from './ports/ado.js';
import { slotOrdinal } from './slots.js';

/** A runner of the pool as its registrations show it. */
export interface PoolRunner {
  name: string;
  agents: AgentInfo[];
  /** From its agents' RUNNER_PRIORITY capability (DeployRunnerPool's `priority` input); higher is picked first. */
  priority: number;
  /** How many distinct capabilities its agents offer, its identity variables left out: among equals, the runner offering least takes the job. */
  capabilityCount: number;
  /** An in-cluster autoscaler scales it. A runner that does not take part only gets what none of those can take. */
  scaled: boolean;
}

/** The runner's own identity variables: a live registration has them and a placeholder not, so they offer a job nothing. */
const bookkeeping = new Set(Object.values(identityVariables).map((key) => key.toLowerCase()));

/**
 * The runners that share the pool's waiting jobs: every runner an in-cluster autoscaler scales (its agents say so in
 * RUNNER_NAME and RUNNER_SCALING), whose agents are its slots (`<name>-<n>`), and `self`, the runner counting. A
 * runner with a fixed count (or scaled by ScaleRunnerPool) takes no share from them: it would not grow for the job.
 */
export function poolRunners(agents: AgentInfo[], self: { name: string; scaled: boolean }): PoolRunner[] {
  const scaled = new Set(agents.filter((agent) => agent.capabilities[identityVariables.scaling] === 'autoscaler').map((agent) => agent.capabilities[identityVariables.runnerName]).filter((name) => !!name));
  if (self.scaled) scaled.add(self.name);
  return [...new Set([self.name, ...scaled])].sort().map((name) => {
    const own = agents.filter((agent) => slotOrdinal(name, agent.name) !== undefined);
    const priorities = own.map((agent) => Number.parseInt(agent.capabilities[identityVariables.priority] ?? '', 10)).filter(Number.isFinite);
    const capabilities = new Set(own.flatMap((agent) => Object.keys(agent.capabilities).map((key) => key.toLowerCase()).filter((key) => !bookkeeping.has(key))));
    return { name, agents: own, priority: priorities.length > 0 ? Math.max(...priorities) : 0, capabilityCount: capabilities.size, scaled: scaled.has(name) };
  });
}

/**
 * Jobs that wait for an agent: not yet reserved for or assigned to one, and not running on any agent of `agents`. The
 * jobs and the agents are two reads, one after the other: a job handed to an agent between them still waits in the
 * first and already runs in the second, and must be counted once, as busy.
 */
export function waitingJobs<J extends JobRequest>(jobs: J[], agents: AgentInfo[]): J[] {
  const running = new Set(agents.map((agent) => agent.busyWith).filter((id) => id !== undefined));
  return jobs.filter((job) => job.reservedAgentName === undefined && job.assignTime === undefined && !running.has(job.requestId));
}

/**
 * The waiting jobs whose demands every runner can read. A demand the parser refuses (an operator it does not know)
 * makes its job one that no runner counts, rather than a look that fails for every job of the pool.
 */
function readableJobs<J extends JobRequest>(jobs: J[], agents: AgentInfo[]): J[] {
  return waitingJobs(jobs, agents).filter((job) => demandsProblem(job.demands) === undefined);
}

/**
 * The runner that counts each waiting job some runner can take: among the runners with a registration that satisfies
 * its demands, those an autoscaler scales first, then the highest priority, then the fewest capabilities (the most
 * general runner keeps the specialised ones free), then the name. A job only one runner can take always goes to that
 * runner; a job none can take is left out.
 */
export function assignWaitingJobs(runners: PoolRunner[], jobs: JobRequest[]): Map<number, string> {
  const ranked = [...runners].sort((a, b) => Number(b.scaled) - Number(a.scaled) || b.priority - a.priority || a.capabilityCount - b.capabilityCount || a.name.localeCompare(b.name));
  const assignment = new Map<number, string>();
  for (const job of readableJobs(jobs, runners.flatMap((runner) => runner.agents))) {
    const taker = ranked.find((runner) => runner.agents.some((agent) => agentSatisfiesDemands(agent.capabilities, job.demands)));
    if (taker) assignment.set(job.requestId, taker.name);
  }
  return assignment;
}

/** One runner's part of the pool's waiting jobs. */
export interface RunnerShare<J extends JobRequest> {
  /** The waiting jobs this runner counts. */
  counted: J[];
  /** Waiting jobs this runner could take that another runner of the pool counts. */
  leftToOthers: J[];
  /** Waiting jobs no runner counts because a demand cannot be read, each with why (`job <id>: <problem>`). */
  unreadable: string[];
}

/**
 * The waiting jobs `runnerName` counts, as its scaler sees them (`observePool`) and the hub shows them. A waiting job
 * counts only if one of its registrations could take it (the service would not give it to the runner otherwise), and
 * only if the pool's rule picks it among the runners that could. `scaled`: an in-cluster autoscaler scales it.
 */
export function runnerShare<J extends JobRequest>(runnerName: string, agents: AgentInfo[], jobs: J[], scaled = false): RunnerShare<J> {
  const assignment = assignWaitingJobs(poolRunners(agents, { name: runnerName, scaled }), jobs);
  const ours = agents.filter((agent) => slotOrdinal(runnerName, agent.name) !== undefined);
  const candidates = readableJobs(jobs, agents).filter((job) => ours.some((agent) => agentSatisfiesDemands(agent.capabilities, job.demands)));
  const counted = candidates.filter((job) => assignment.get(job.requestId) === runnerName);
  const unreadable = waitingJobs(jobs, agents).flatMap((job) => {
    const problem = demandsProblem(job.demands);
    return problem === undefined ? [] : [`job ${job.requestId}: ${problem}`];
  });
  return { counted, leftToOthers: candidates.filter((job) => assignment.get(job.requestId) !== runnerName), unreadable };
}
