// An in-memory RunnerPoolService: the page outside Azure DevOps (component tests, local development) reads what it is given.
import type { RunnerPoolData, RunnerPoolService } from './RunnerPoolService.js';

export class LocalRunnerPoolService implements RunnerPoolService {
  /** How many times the page has loaded; tests use it to see refreshes. */
  loads = 0;

  /** `next` is data to answer with, an error to fail with, or a function giving either per call. */
  constructor(private next: RunnerPoolData | Error | (() => RunnerPoolData | Error | Promise<RunnerPoolData>)) {}

  /** Changes what the following loads answer. */
  set(next: RunnerPoolData | Error | (() => RunnerPoolData | Error | Promise<RunnerPoolData>)): void {
    this.next = next;
  }

  async load(): Promise<RunnerPoolData> {
    this.loads++;
    const answer = typeof this.next === 'function' ? await this.next() : this.next;
    if (answer instanceof Error) throw answer;
    return structuredClone(answer);
  }
}
