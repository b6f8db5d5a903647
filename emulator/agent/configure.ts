// `config.sh` and `config.sh remove` of the agent double: the real agent's registration calls, in the same order.
import { existsSync } from 'node:fs';
import { hostname, release } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { systemCapabilities } from './capabilities.js';
import { LOCATION, VssClient, VssHttpError, type Credential } from './client.js';
import {
  AGENT_VERSION, files, loadOrCreateKey, publicKeyOf, readJson, removeLocalConfiguration, writeSecretJson,
  type AgentSettings, type Args, type OAuthData,
} from './settings.js';

export class ConfigError extends Error {}

export const USER_AGENT = `VstsAgentCore-linux-x64/${AGENT_VERSION} (Linux ${release()}) VSServices/emulated-double`;
const AAD_RESOURCE = '499b84ac-1321-427f-aa17-267ca6975798/.default';

function required(args: Args, name: string): string {
  const value = args.values.get(name);
  if (!value) throw new ConfigError(`--${name} is required in unattended mode.`);
  return value;
}

/** The credential `--auth` asks for: PAT as Basic user VstsAgent, or a service principal's Entra token (emulated tenant). */
async function commandCredential(args: Args, serverUrl: string): Promise<Credential> {
  const auth = required(args, 'auth').toLowerCase();
  if (auth === 'pat') return { kind: 'basic', user: 'VstsAgent', password: required(args, 'token') };
  if (auth === 'sp') {
    const tenantId = required(args, 'tenantid');
    const response = await fetch(`${new URL(serverUrl).origin}/_entra/${encodeURIComponent(tenantId)}/oauth2/v2.0/token`, {
      method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: required(args, 'clientid'), client_secret: required(args, 'clientsecret'), scope: AAD_RESOURCE }).toString(),
    });
    const json = await response.json() as { access_token?: string; error_description?: string };
    if (!json.access_token) throw new ConfigError(`Service principal sign-in failed: ${json.error_description ?? response.status}`);
    return { kind: 'bearer', token: json.access_token };
  }
  throw new ConfigError(`The auth scheme '${auth}' is not supported by the agent double (use pat or sp).`);
}

/**
 * Whether connectionData's deploymentType names Azure DevOps Services, as the agent's ServerUtil reads it (DeploymentFlags
 * by name or number); a server that names none counts as on-premises, and an unknown one ends configuration.
 */
function isHosted(deploymentType: unknown): boolean {
  const type = String(deploymentType ?? 'none').toLowerCase();
  if (type === 'hosted' || type === '1') return true;
  if (['onpremises', '2', 'none', '0'].includes(type)) return false;
  throw new ConfigError(`Unable to recognize deployment type: '${String(deploymentType)}'`);
}

interface AgentJson {
  id: number;
  name: string;
  authorization?: { clientId?: string; authorizationUrl?: string };
}

export async function configure(args: Args, root: string, env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<void> {
  if (!args.flags.has('unattended')) throw new ConfigError('The agent double only supports --unattended configuration.');
  if (existsSync(files(root).agent)) {
    throw new ConfigError("Cannot configure the agent because it is already configured. To reconfigure the agent, run 'config.cmd remove' or './config.sh remove' first.");
  }
  const serverUrl = required(args, 'url').replace(/\/+$/, '');
  const poolName = args.values.get('pool') ?? 'default';
  const agentName = args.values.get('agent') ?? hostname();
  const work = args.values.get('work') ?? '_work';
  log('>> Connect:');
  log(`Connecting to server ...`);
  const client = new VssClient(serverUrl, await commandCredential(args, serverUrl), USER_AGENT);
  const hosted = isHosted((await client.connect()).deploymentType);
  log('>> Register Agent:');
  const pools = await client.send<{ value: { id: number; name: string }[] }>('GET', LOCATION.pools, { query: { poolName, poolType: 'Automation' } });
  const pool = pools?.value[0];
  if (!pool) throw new ConfigError(`Agent pool not found: '${poolName}'`);
  log('Scanning for tool capabilities.');
  const capabilities = systemCapabilities(env, agentName, AGENT_VERSION, root);
  const key = loadOrCreateKey(root);
  const found = await client.send<{ value: AgentJson[] }>('GET', LOCATION.agents, { routeValues: { poolId: pool.id }, query: { agentName, includeCapabilities: false } });
  const existing = found?.value[0];
  const body = {
    id: existing?.id ?? 0, name: agentName, version: AGENT_VERSION, osDescription: `Linux ${release()}`, status: 0,
    provisioningState: 'Provisioned', maxParallelism: 1, createdOn: '0001-01-01T00:00:00',
    authorization: { publicKey: publicKeyOf(key) }, systemCapabilities: capabilities,
  };
  let agent: AgentJson | undefined;
  if (existing) {
    if (!args.flags.has('replace')) throw new ConfigError(`Pool ${pool.name} already contains an agent with name ${agentName}.`);
    agent = await client.send<AgentJson>('PUT', LOCATION.agents, { routeValues: { poolId: pool.id, agentId: existing.id }, body });
    log('Successfully replaced the agent');
  } else {
    agent = await client.send<AgentJson>('POST', LOCATION.agents, { routeValues: { poolId: pool.id }, body });
    log('Successfully added the agent');
  }
  const clientId = agent?.authorization?.clientId;
  const authorizationUrl = agent?.authorization?.authorizationUrl;
  if (!agent || !clientId || !authorizationUrl) throw new ConfigError('The server did not return OAuth credentials for the agent.');
  // ConfigurationManager.UpdateCredentialData: Azure DevOps Services issues tokens on a host of its own, so the token
  // endpoint is the authorization URL; an on-premises server's takes the configured scheme://host:port, in case the
  // server names itself by a public URL this machine does not reach.
  const endpoint = new URL(authorizationUrl);
  if (!hosted) {
    const configured = new URL(serverUrl);
    endpoint.protocol = configured.protocol;
    endpoint.hostname = configured.hostname;
    endpoint.port = configured.port;
  }
  const credentials: OAuthData = { scheme: 'OAuth', data: { clientId, authorizationUrl, oauthEndpointUrl: endpoint.toString() } };
  log('Testing agent connection.');
  await new VssClient(serverUrl, { kind: 'oauth', ...credentials.data, key }, USER_AGENT).connect();
  const settings: AgentSettings = {
    agentId: agent.id, agentName, poolId: pool.id, poolName: pool.name, serverUrl,
    workFolder: isAbsolute(work) ? work : join(root, work),
    ...(args.flags.has('disableloguploads') ? { disableLogUploads: true } : {}),
  };
  writeSecretJson(files(root).credentials, credentials);
  writeSecretJson(files(root).agent, settings);
  log(`${new Date().toISOString()}: Settings Saved.`);
}

export async function remove(args: Args, root: string, log: (line: string) => void): Promise<void> {
  if (!existsSync(files(root).agent)) {
    log('Agent is not configured; nothing to remove.');
    return;
  }
  const settings = readJson<AgentSettings>(files(root).agent);
  const client = new VssClient(settings.serverUrl, await commandCredential(args, settings.serverUrl), USER_AGENT);
  await client.connect();
  log('Removing agent from the server');
  const found = await client.send<{ value: AgentJson[] }>('GET', LOCATION.agents, { routeValues: { poolId: settings.poolId }, query: { agentName: settings.agentName, includeCapabilities: false } });
  if (!found?.value[0]) {
    log('Skipping: the agent does not exist on the server.');
  } else {
    try {
      await client.send('DELETE', LOCATION.agents, { routeValues: { poolId: settings.poolId, agentId: settings.agentId } });
      log('Successfully removed the agent');
    } catch (error) {
      if (!(error instanceof VssHttpError && error.typeKey === 'TaskAgentNotFoundException')) throw error;
    }
  }
  removeLocalConfiguration(root);
  log('Removed .credentials, .credentials_rsaparams and .agent');
}
