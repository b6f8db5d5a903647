// The composition root: the one place where the entries (the three tasks, the command line, the autoscaler) get their
// clients. An entry reads its inputs and says where its host, its cluster and its extension come from; here each flow
// is handed the same Azure DevOps client, clock, files and keys, however the entry was started.
import { setTimeout as sleep } from 'node:timers/promises';
import { RestAdoClient } from '../clients/ado-rest.js';
import { agentPackagesClient } from '../clients/agent-packages.js';
import { autoscalerKeyMaker } from '../clients/autoscaler-keys.js';
import { nodeFiles } from '../clients/node-files.js';
import { processCommands } from '../clients/process-commands.js';
import { systemClock } from '../clients/system-clock.js';
import type { BuildImageOptions, DeployOptions, Files, KubeClient, RemoveOptions, ScaleOptions, StatusOptions, TaskHost } from '../core/index.js';
import { buildRunnerImage, type BuildImageServices } from '../flows/build-image.js';
import { deployRunnerPool } from '../flows/deploy-pool.js';
import { readPoolStatus } from '../flows/pool-status.js';
import { removeRunnerPool } from '../flows/remove-pool.js';
import { scaleRunnerPool } from '../flows/scale-pool.js';

/** The extension whose data storage holds the hub's snapshots. */
export type ExtensionIdentity = { publisher: string; id: string } | undefined;

/** The Azure DevOps client: a token read at every call may be a function (the autoscaler's rotated Secret). */
export function restAdoClient(organizationUrl: string, token: string | (() => string), extension: ExtensionIdentity, log: (message: string) => void): RestAdoClient {
  return new RestAdoClient({ organizationUrl, token, extension, sleep: (ms) => sleep(ms), log });
}

export interface EntrySources {
  /** Where inputs, messages, secrets and outputs go: the task library, or the command line's streams. */
  host: TaskHost;
  extension: ExtensionIdentity;
  /** The cluster; none for an entry that only renders (the command line's `render`), which then calls no service. */
  connect?: () => Promise<KubeClient>;
  /** The files the deploy flow writes (the command line routes `/dev/stdout` through its masking host). */
  files?: Files;
}

/** The client a flow's Azure DevOps calls go through, the token masked before anything is sent. */
function adoFor({ host, extension }: EntrySources, organizationUrl: string, token: string): RestAdoClient {
  host.setSecret(token);
  return restAdoClient(organizationUrl, token, extension, (message) => host.info(message));
}

function connectOf(sources: EntrySources): () => Promise<KubeClient> {
  return sources.connect ?? (() => Promise.reject(new Error('this command connects to no cluster')));
}

// Each flow wired on its own (entries import this module as a namespace), so a bundle holds only the flows it runs.

export function deploy(sources: EntrySources, options: DeployOptions) {
  const { credential, organizationUrl } = options.pool;
  const ado = sources.connect && credential.kind === 'pat' ? adoFor(sources, organizationUrl, credential.token) : undefined;
  return deployRunnerPool({ ...options, pool: { ...options.pool, extension: sources.extension } }, {
    host: sources.host, ado, connect: connectOf(sources), files: sources.files ?? nodeFiles, clock: systemClock, keys: autoscalerKeyMaker,
  });
}

export function scale(sources: EntrySources, options: ScaleOptions) {
  const ado = options.token === undefined ? undefined : adoFor(sources, options.organizationUrl, options.token);
  return scaleRunnerPool(options, { host: sources.host, ado, connect: connectOf(sources), clock: systemClock });
}

export function status(sources: EntrySources, options: StatusOptions) {
  return readPoolStatus(options, { ado: adoFor(sources, options.organizationUrl, options.token), connect: connectOf(sources), clock: systemClock, log: sources.host });
}

export function remove(sources: EntrySources, options: RemoveOptions) {
  return removeRunnerPool(options, { log: sources.host, ado: adoFor(sources, options.organizationUrl, options.token), connect: connectOf(sources), clock: systemClock });
}

/** `place`: where the built-in Dockerfile lives, the temp folder and the registry logins of the agent's user. */
export function build(sources: EntrySources, options: BuildImageOptions, place: Pick<BuildImageServices, 'builtinContext' | 'tempDir' | 'existingLogins'>) {
  return buildRunnerImage(options, { host: sources.host, commands: processCommands, files: nodeFiles, agentPackages: agentPackagesClient, ...place });
}
