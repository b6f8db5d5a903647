// An in-memory RunnerPoolService: the page outside Azure DevOps (component tests, local development) reads what it is given.
import type { HubJobRequest } from '../../../src/core/index.js';
import type { RunnerPoolData, RunnerPoolService } from './RunnerPoolService.js';

/** What a load answers: job requests as lists, as errors to fail with, or as promises the caller settles when it likes. */
export interface LocalPoolData extends Omit<RunnerPoolData, 'jobRequestsByPool'> {
  jobRequestsByPool: Record<string, HubJobRequest[] | Error | Promise<HubJobRequest[]>>;
}

type Answer = LocalPoolData | Error;

export class LocalRunnerPoolService implements RunnerPoolService {
  /** How many times the page has loaded; tests use it to see refreshes. */
  loads = 0;

  /** `next` is data to answer with, an error to fail with, or a function giving either per call. */
  constructor(private next: Answer | (() => Answer | Promise<Answer>)) {}

  /** Changes what the following loads answer. */
  set(next: Answer | (() => Answer | Promise<Answer>)): void {
    this.next = next;
  }

  async load(): Promise<RunnerPoolData> {
    this.loads++;
    const answer = typeof this.next === 'function' ? await this.next() : this.next;
    if (answer instanceof Error) throw answer;
    const { agents, snapshots, jobRequestsByPool } = answer;
    // Like Azure DevOps, every pool named by an agent or a snapshot has a queue; one not given has nothing queued.
    const pools = [...agents, ...snapshots].map((item) => item.poolName);
    const queues = { ...Object.fromEntries(pools.map((pool) => [pool, []])), ...jobRequestsByPool };
    return {
      ...structuredClone({ agents, snapshots }),
      jobRequestsByPool: Object.fromEntries(Object.entries(queues).map(([pool, jobs]) =>
        [pool, jobs instanceof Error ? Promise.reject(jobs) : Promise.resolve(jobs).then((list) => structuredClone(list))])),
    };
  }
}
