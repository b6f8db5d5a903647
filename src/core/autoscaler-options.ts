// The in-cluster autoscaler's settings: what DeployRunnerPool writes into its Deployment's environment, and how the
// autoscaler reads them back (pure). One table names both sides, so the two can never disagree.
import { InputReader } from './inputs.js';
import type { AutoscalerSettings, RunnerPoolSpec } from './model.js';
import { readScaleLimits } from './scale-options.js';
import { autoscalerKeyVariables, rawKeyProblem, type AutoscalerPublicKeys } from './handshake-trust.js';

/** Each setting's environment variable. */
const variables = {
  organizationUrl: 'AZP_URL',
  poolName: 'AZP_POOL',
  runnerName: 'RUNNER_NAME',
  namespace: 'RUNNER_NAMESPACE',
  cluster: 'RUNNER_CLUSTER',
  minReplicas: 'MIN_REPLICAS',
  maxReplicas: 'MAX_REPLICAS',
  standby: 'STANDBY',
  standbySchedule: 'STANDBY_SCHEDULE',
  pollSeconds: 'POLL_SECONDS',
  extension: 'EXTENSION_ID',
  signingKey: autoscalerKeyVariables.signing,
  encryptionKey: autoscalerKeyVariables.encryption,
} as const;

/** Where the autoscaler's container finds the PAT: a Secret volume only it mounts (rotated in place by the kubelet). */
export const autoscalerTokenDir = '/var/run/secrets/azure-devops-runner';
export const autoscalerTokenFile = `${autoscalerTokenDir}/token`;
/** Where it finds its handshake's private keys (the Secret autoscalerKeysSecretName, only its pod mounts it). */
export const autoscalerKeysDir = '/var/run/secrets/azure-devops-runner-keys';
/** The port of its /healthz and /metrics. */
export const autoscalerMetricsPort = 9090;
/** The port on which it takes its runner pods' notices that their agent took a job (./job-notice.ts). */
export const autoscalerNoticePort = 9091;
/** The variable that gives it its pod's IP (the downward API): its notice address, handed to runner pods in grants. */
export const autoscalerPodIpVariable = 'POD_IP';

export interface AutoscalerOptions {
  namespace: string;
  runnerName: string;
  poolName: string;
  /** Its runner's cluster identity (src/core/runner-identity.ts); absent when deployed before identities. */
  cluster?: string;
  organizationUrl: string;
  settings: AutoscalerSettings;
  /** The installed extension whose data storage holds the hub's snapshots (`publisher.extension`). */
  extension?: { publisher: string; id: string };
  /** The public keys the runner pods were given: its private keys must match them. */
  keys: AutoscalerPublicKeys;
}

/** The environment DeployRunnerPool gives the autoscaler of `pool`. */
export function autoscalerEnvironment(pool: RunnerPoolSpec): Record<string, string> {
  const settings = pool.autoscaler!;
  const values: Record<keyof typeof variables, string | undefined> = {
    organizationUrl: pool.organizationUrl,
    poolName: pool.poolName,
    runnerName: pool.runnerName,
    namespace: pool.namespace,
    cluster: pool.cluster,
    minReplicas: String(settings.minReplicas),
    maxReplicas: String(settings.maxReplicas),
    standby: String(settings.standby),
    standbySchedule: settings.standbySchedule?.map((window) => window.text).join('\n'),
    pollSeconds: String(settings.pollSeconds),
    extension: pool.extension && `${pool.extension.publisher}.${pool.extension.id}`,
    signingKey: pool.autoscalerKeys?.public.signing,
    encryptionKey: pool.autoscalerKeys?.public.encryption,
  };
  return Object.fromEntries(Object.entries(values).flatMap(([key, value]) => (value === undefined ? [] : [[variables[key as keyof typeof variables], value]])));
}

/** Reads the autoscaler's settings from its environment; every problem is named by its variable. */
export function readAutoscalerOptions(env: Record<string, string | undefined>): AutoscalerOptions {
  const get = (name: string) => env[variables[name as keyof typeof variables] ?? name]?.trim() || undefined;
  const inputs = new InputReader({ getInput: get, getSecretInput: get }, (name) => variables[name as keyof typeof variables] ?? name);
  const extension = inputs.optional('extension');
  const cluster = inputs.optional('cluster');
  const [publisher, id] = extension?.split('.') ?? [];
  if (extension !== undefined && (!publisher || !id)) inputs.problem('extension', `must be <publisher>.<extension>; got '${extension}'.`);
  const options: AutoscalerOptions = {
    namespace: inputs.dnsLabel('namespace'),
    runnerName: inputs.dnsLabel('runnerName'),
    poolName: inputs.poolName('poolName'),
    organizationUrl: inputs.url('organizationUrl'),
    settings: { ...readScaleLimits(inputs), pollSeconds: inputs.integer('pollSeconds', { min: 1, max: 300 }, 5) },
    ...(cluster !== undefined && { cluster }),
    ...(publisher && id && { extension: { publisher, id } }),
    keys: { signing: inputs.checked('signingKey', rawKeyProblem) ?? '', encryption: inputs.checked('encryptionKey', rawKeyProblem) ?? '' },
  };
  inputs.finish();
  return options;
}
