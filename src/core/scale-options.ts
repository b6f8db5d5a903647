// ScaleRunnerPool's inputs: from what the user typed to validated scaling options (pure).
import type { InputReader } from './inputs.js';
import { readClusterTarget, type ClusterTarget } from './cluster-target.js';
import { maxReplicas, type ScaleLimits, type ScaleMode } from './model.js';
import { parseStandbySchedule } from './standby-schedule.js';

export interface ScaleOptions {
  target: ClusterTarget;
  runnerName: string;
  mode: ScaleMode;
  /** The replica count in `fixed` mode. */
  replicas: number;
  limits: ScaleLimits;
  organizationUrl: string;
  poolName: string;
  /** Needed in `queue` mode and for registration hygiene. */
  token?: string;
  /** Keep re-evaluating for this long (0 = decide once). */
  watchSeconds: number;
  intervalSeconds: number;
  dryRun: boolean;
  removeStaleRegistrations: boolean;
}

/** minReplicas, maxReplicas and standby, read the same way by ScaleRunnerPool and DeployRunnerPool's autoscaler. */
export function readScaleLimits(inputs: InputReader): ScaleLimits {
  const limits: ScaleLimits = {
    minReplicas: inputs.integer('minReplicas', { min: 0, max: maxReplicas }, 0),
    maxReplicas: inputs.integer('maxReplicas', { min: 0, max: maxReplicas }, 10),
    standby: inputs.integer('standby', { min: 0, max: maxReplicas }, 0),
  };
  if (limits.minReplicas > limits.maxReplicas) {
    inputs.problem('minReplicas', `(${limits.minReplicas}) must not exceed maxReplicas (${limits.maxReplicas}).`);
  }
  const schedule = parseStandbySchedule(inputs.optional('standbySchedule') ?? '', limits.maxReplicas);
  for (const problem of schedule.problems) inputs.problem('standbySchedule', problem);
  if (schedule.windows.length > 0) limits.standbySchedule = schedule.windows;
  return limits;
}

export function readScaleOptions(inputs: InputReader): ScaleOptions {
  const target = readClusterTarget(inputs);
  const mode = inputs.choice<ScaleMode>('mode', ['fixed', 'queue'], 'queue');
  const queue = mode === 'queue';
  const limits = readScaleLimits(inputs);
  const removeStaleRegistrations = inputs.boolean('removeStaleRegistrations', true);
  const needsAzureDevOps = queue || removeStaleRegistrations;
  const options: ScaleOptions = {
    target,
    runnerName: inputs.dnsLabel('runnerName'),
    mode,
    replicas: queue ? 0 : inputs.integer('replicas', { min: 0, max: maxReplicas }, 1),
    limits,
    organizationUrl: needsAzureDevOps ? inputs.url('azureDevOpsUrl', '$(System.CollectionUri)') : inputs.optional('azureDevOpsUrl') ?? '',
    poolName: inputs.poolName('poolName', { optional: !needsAzureDevOps }),
    token: needsAzureDevOps ? inputs.secret('personalAccessToken') : undefined,
    watchSeconds: inputs.integer('watchMinutes', { min: 0, max: 360 }, 0) * 60,
    intervalSeconds: inputs.integer('intervalSeconds', { min: 5, max: 3600 }, 15),
    dryRun: inputs.boolean('dryRun', false),
    removeStaleRegistrations,
  };
  inputs.finish();
  return options;
}
