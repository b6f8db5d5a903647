// ScaleRunnerPool's flow: find the pool, then one pass, or passes for the length of a watch that rides out blips.
import type { ScaleOptions } from '../core/scale-options.js';
import type { ScaleDecision } from '../core/model.js';
import type { TaskHost } from '../core/ports/host.js';
import { KubeApiError, type KubeClient } from '../core/ports/kube.js';
import { AdoError, type AdoClient } from '../core/ports/ado.js';
import type { ScaleTarget } from '../core/scale-decision.js';
import type { Clock } from '../core/ports/clock.js';
import { scalePass, type PassOptions, type PassState } from './scale-pass.js';
import { markdownTable } from '../core/log-text.js';
import { UnusableInput } from '../core/inputs.js';

export { scaleFieldManager } from './scale-pass.js';

export interface ScaleServices {
  host: TaskHost;
  connect(): Promise<KubeClient>;
  /** Undefined when the task has no Azure DevOps access (fixed mode without registration hygiene). */
  ado?: AdoClient;
  clock: Clock;
}

export async function scaleRunnerPool(options: ScaleOptions, services: ScaleServices): Promise<ScaleDecision> {
  const { host, ado } = services;
  const kube = await services.connect();
  let poolId: number | undefined;
  if (ado) {
    const pool = await ado.findPool(options.poolName);
    if (pool === undefined) throw new UnusableInput('poolName', `the agent pool '${options.poolName}' does not exist in ${options.organizationUrl}, or the token cannot see it.`);
    poolId = pool.id;
  } else {
    host.warning('Without Azure DevOps access the task cannot see which agents are busy; it cannot protect them from a scale-down.');
  }
  const target: ScaleTarget = options.mode === 'fixed' ? { mode: 'fixed', replicas: options.replicas } : { mode: 'queue', limits: options.limits };
  const stopAt = services.clock.now() + options.watchSeconds * 1000;
  const pass: PassOptions = {
    namespace: options.target.namespace, runnerName: options.runnerName, poolName: options.poolName, organizationUrl: options.organizationUrl,
    target, dryRun: options.dryRun, removeStaleRegistrations: options.removeStaleRegistrations, actor: 'ScaleRunnerPool',
  };
  const state: PassState = { kube, poolId };
  let decision: ScaleDecision | undefined;
  let failure: unknown;
  let failedInARow = 0;
  for (;;) {
    try {
      const result = await scalePass(pass, { log: host, ado, clock: services.clock }, state);
      decision = result.decision;
      state.waits = result.waits;
      host.info(`${options.dryRun ? '[dry run] ' : ''}${decision.reason}.`);
      failedInARow = 0;
    } catch (error) {
      // A watch outlives a blip of the cluster or of Azure DevOps; a refusal, or a failure that lasts, still ends it.
      if (options.watchSeconds === 0 || !isTransient(error) || ++failedInARow >= maxFailedPassesInARow) throw error;
      failure = error;
      host.warning(`This pass failed; the next one is in ${options.intervalSeconds} s. ${(error as Error).message}`);
    }
    if (services.clock.now() + options.intervalSeconds * 1000 > stopAt) {
      // A last pass that failed leaves the pool as the pass before it decided.
      if (decision === undefined) throw failure;
      if (ado !== undefined && ado.throttledSeconds > 0) host.warning(`Azure DevOps throttled this run: ${Math.round(ado.throttledSeconds)} s spent waiting.`);
      host.addSummary(
        'Runner pool scaling',
        `### Scaling ${options.runnerName}\n\n${markdownTable(['', ''], [
          ['replicas', `${decision.previousReplicas} → ${decision.replicas}`],
          ['busy agents', String(decision.busyAgents)],
          ['queued jobs', String(decision.queuedJobs)],
          ['reason', decision.reason],
        ])}\n`,
      );
      return decision;
    }
    await services.clock.sleep(options.intervalSeconds * 1000);
  }
}

/** How many passes of a watch may fail one after another, each on a transient error, before the task fails. */
const maxFailedPassesInARow = 3;

/** No answer, throttling or a server error: worth another pass. A refusal (401, 403, 404, 422) is not. */
export function isTransient(error: unknown): boolean {
  // A 409 from the cluster: the object changed between a look and a write made on it; the next look sees the change.
  return (error instanceof KubeApiError && error.status === 409)
    || ((error instanceof KubeApiError || error instanceof AdoError) && (error.status === 0 || error.status === 429 || error.status >= 500));
}
