// The inputs of the command line's own commands, status and remove (its deploy, render and scale read the tasks' own):
// which runner pool, in which cluster namespace and Azure DevOps organization (pure).
import type { InputReader } from './inputs.js';
import { dnsLabelProblem } from './kube-syntax.js';

export interface PoolRef {
  namespace: string;
  poolName: string;
  /** The StatefulSet; none: the pool's runner DeployRunnerPool named by default in the namespace (src/flows/runner-identity.ts). */
  runnerName?: string;
  organizationUrl: string;
  token: string;
}

export interface StatusOptions extends PoolRef {
  output: 'table' | 'json';
}

export interface RemoveOptions extends PoolRef {
  /** How long to wait for running jobs to end; 0: refuse a pool with a running job. */
  waitSeconds: number;
}

function readPoolRef(inputs: InputReader): PoolRef {
  const poolName = inputs.poolName('poolName');
  return {
    namespace: inputs.dnsLabel('namespace', 'azure-pipelines'),
    poolName,
    runnerName: inputs.checked('runnerName', (value) => dnsLabelProblem(value), { optional: true }),
    organizationUrl: inputs.url('azureDevOpsUrl'),
    token: inputs.secret('personalAccessToken'),
  };
}

export function readStatusOptions(inputs: InputReader): StatusOptions {
  const options = { ...readPoolRef(inputs), output: inputs.choice('output', ['table', 'json'] as const, 'table') };
  inputs.finish();
  return options;
}

export function readRemoveOptions(inputs: InputReader): RemoveOptions {
  const options = { ...readPoolRef(inputs), waitSeconds: inputs.integer('waitSeconds', { min: 0, max: 86400 }, 600) };
  inputs.finish();
  return options;
}
