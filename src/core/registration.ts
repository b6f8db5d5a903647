// Registration by the autoscaler (autoscaling: inCluster): the component that already holds the PAT registers each
// runner pod's agent through the REST API, so no runner pod ever holds the PAT and no pod runs config.sh. Pure rules
// of the handshake; its design note is autoscaler/DESIGN.md.
//
// 1. The pod starts; before its agent runs, a helper in it (runner/) makes the agent's RSA key and serves, on the
//    handshake port, a RegistrationRequest: its pod name and UID, the public key, its capabilities, a nonce — sealed
//    to the autoscaler's key (handshake-trust.ts), so no one else can read it.
// 2. The autoscaler, which lists the pool's pods, finds the new pod and reads the request from the pod's IP; it checks
//    the request names that very pod, then POSTs (new slot) or PUTs (re-key, as `config.sh --replace` does) the agent.
// 3. It hands the pod a RegistrationGrant (ids and URLs, nothing secret), signed over that request; the helper takes
//    it only if the signature holds, writes the agent's settings and the agent starts. A new key for every pod, and
//    the registration retired with its pod (./single-use.ts).
import type { KubeObject } from './ports/kube.js';
import { nonceProblem } from './handshake-trust.js';
import { jobNoticeFile, noticeUrlProblem } from './job-notice.js';
import { slotOrdinal } from './slots.js';

/** The port on which a runner pod serves its registration request until it is registered. */
export const handshakePort = 8081;

export interface PublicKey {
  /** Base64, as the agent sends them (RSAParameters). */
  exponent: string;
  modulus: string;
}

/** What a runner pod asks to be registered with. */
export interface RegistrationRequest {
  podName: string;
  podUid: string;
  /** The agent's public key; the private key never leaves the pod. */
  publicKey: PublicKey;
  /** The key's fingerprint: a restarted agent container makes a new key, and asks again. */
  keyId: string;
  /** Fresh with every key: the grant is signed over it, so a grant made for an earlier request is refused. */
  nonce: string;
  /** What the agent will report (environment, Agent.*): set at registration so demands match before it is online. */
  systemCapabilities: Record<string, string>;
  version?: string;
  osDescription?: string;
  /**
   * The pod takes a grant with a noticeUrl (runner images from then on): an older one refuses a grant with a field it
   * does not know, so it is given none.
   */
  acceptsNoticeUrl?: boolean;
}

/** What the autoscaler hands the pod back: the agent's settings, none of them secret. */
export interface RegistrationGrant {
  agentId: number;
  agentName: string;
  poolId: number;
  poolName: string;
  serverUrl: string;
  clientId: string;
  authorizationUrl: string;
  /** The token endpoint the agent calls (tokenEndpointUrl). */
  oauthEndpointUrl: string;
  /** Where the pod tells the autoscaler that its agent took a job (./job-notice.ts); absent, it tells nobody. */
  noticeUrl?: string;
}

/** What connectionData says the server is: Azure DevOps Services, or Azure DevOps Server in the customer's network. */
export type DeploymentType = 'hosted' | 'onPremises';

/** An agent as the REST API registers it (POST to add, PUT to re-key an existing one). */
export interface AgentRegistration {
  name: string;
  publicKey: PublicKey;
  systemCapabilities: Record<string, string>;
  version?: string;
  osDescription?: string;
  /** Added disabled (a placeholder, src/core/single-use.ts); the service's default is enabled. */
  enabled?: boolean;
}

/** A runner pod that may need registering: one of the runner's slots, alive, with an address. */
export interface HandshakeTarget {
  name: string;
  uid: string;
  ip: string;
  /** The agent container's restart count: a restart in place makes a new key that needs registering again. */
  restarts: number;
}

interface PodShape {
  metadata: { ownerReferences?: Array<{ kind: string; uid?: string; controller?: boolean }> };
  status?: { phase?: string; podIP?: string; containerStatuses?: Array<{ name: string; restartCount: number }> };
}

/** Whether the runner's StatefulSet controls the pod: a pod someone else made under a slot's name is not the slot's. */
export function controlledBy(pod: KubeObject, statefulSetUid: string | undefined): boolean {
  const owners = (pod as unknown as PodShape).metadata.ownerReferences ?? [];
  return statefulSetUid !== undefined && owners.some((owner) => owner.kind === 'StatefulSet' && owner.controller === true && owner.uid === statefulSetUid);
}

/**
 * The runner's pods that could be waiting for their registration now: its slots, controlled by its StatefulSet (of
 * that UID; none while it is unknown).
 */
export function handshakeTargets(runner: { runnerName: string; statefulSetUid?: string }, pods: KubeObject[]): HandshakeTarget[] {
  return pods.flatMap((pod) => {
    const { status } = pod as unknown as PodShape;
    const alive = status?.phase === 'Pending' || status?.phase === 'Running';
    if (slotOrdinal(runner.runnerName, pod.metadata.name) === undefined || !controlledBy(pod, runner.statefulSetUid)) return [];
    if (pod.metadata.deletionTimestamp !== undefined || !alive || !status?.podIP || !pod.metadata.uid) return [];
    const restarts = status.containerStatuses?.find((c) => c.name === 'agent')?.restartCount ?? 0;
    return [{ name: pod.metadata.name, uid: pod.metadata.uid, ip: status.podIP, restarts }];
  });
}

/** Why a request must not be granted: it does not come from the pod at that address, or is malformed. */
export function requestProblem(target: HandshakeTarget, request: RegistrationRequest): string | undefined {
  if (request.podUid !== target.uid || request.podName !== target.name) {
    return `the pod at ${target.ip} says it is ${request.podName} (${request.podUid}), not ${target.name} (${target.uid})`;
  }
  const base64 = /^[A-Za-z0-9+/]+={0,2}$/;
  if (!base64.test(request.publicKey?.exponent ?? '') || !base64.test(request.publicKey?.modulus ?? '') || request.publicKey.modulus.length < 300) {
    return 'its public key is not an RSA key of 2048 bits or more';
  }
  return nonceProblem(request.nonce);
}

/** Variables the agent leaves out of its capabilities (names compared exactly, as on Linux), besides VSO_AGENT_IGNORE's. */
const ignoredVariables = ['comp_wordbreaks', 'ls_colors', 'TERM', 'TERM_PROGRAM', 'TERM_PROGRAM_VERSION', 'SHLVL', 'PSMODULEPATH', 'SYSTEM_ACCESSTOKEN'];

/** The environment variables the agent reports as capabilities: all but those it ignores and values of 1024 characters or more. */
export function reportedVariables(env: Record<string, string | undefined>): Record<string, string> {
  const ignored = new Set([...ignoredVariables, ...(env.VSO_AGENT_IGNORE ?? '').split(',').map((name) => name.trim())]);
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => {
    const [name, value] = entry;
    return value !== undefined && name !== '' && value.length < 1024 && !ignored.has(name);
  }));
}

/** The registration the autoscaler sends for a granted request. */
export function agentRegistration(request: RegistrationRequest): AgentRegistration {
  return {
    name: request.podName,
    publicKey: request.publicKey,
    systemCapabilities: request.systemCapabilities,
    ...(request.version && { version: request.version }),
    ...(request.osDescription && { osDescription: request.osDescription }),
  };
}

/**
 * The token endpoint the agent calls, by the agent's own rule (ConfigurationManager.UpdateCredentialData, told the
 * deployment type by ServerUtil from connectionData). Azure DevOps Services issues tokens on a host of its own, not
 * the organization's: the authorization URL stays as the service gave it. An on-premises server may name itself by a
 * public URL the pod cannot reach: its token endpoint takes the organization URL's scheme, host and port. A server
 * that does not say what it is counts as on-premises, as for the agent.
 */
export function tokenEndpointUrl(organizationUrl: string, authorizationUrl: string, deployment: DeploymentType | undefined): string {
  let endpoint: URL;
  try {
    endpoint = new URL(authorizationUrl);
  } catch {
    throw new Error(`Azure DevOps gave the agent an authorization URL that is not a URL: '${authorizationUrl}'.`);
  }
  if (deployment === 'hosted') return authorizationUrl;
  const organization = new URL(organizationUrl);
  endpoint.protocol = organization.protocol;
  endpoint.hostname = organization.hostname;
  endpoint.port = organization.port;
  return endpoint.toString();
}

/**
 * The grant for a registered agent, on a server of that deployment type; with the autoscaler's notice address when it
 * has one and the request says the pod takes it.
 */
export function registrationGrant(
  organizationUrl: string,
  pool: { id: number; name: string },
  agent: { id: number; name: string; clientId: string; authorizationUrl: string },
  deployment: DeploymentType | undefined,
  notice?: { url?: string; request: Pick<RegistrationRequest, 'acceptsNoticeUrl'> },
): RegistrationGrant {
  return {
    agentId: agent.id,
    agentName: agent.name,
    poolId: pool.id,
    poolName: pool.name,
    serverUrl: organizationUrl,
    clientId: agent.clientId,
    authorizationUrl: agent.authorizationUrl,
    oauthEndpointUrl: tokenEndpointUrl(organizationUrl, agent.authorizationUrl, deployment),
    ...(notice?.url !== undefined && notice.request.acceptsNoticeUrl === true && { noticeUrl: notice.url }),
  };
}

/** Why a pod must not take a grant: it names another agent, pool or organization than the pod was deployed for. */
export function grantProblem(grant: RegistrationGrant, pod: { agentName: string; poolName: string; organizationUrl: string }): string | undefined {
  const trim = (url: string) => url.replace(/\/+$/, '').toLowerCase();
  if (grant.agentName !== pod.agentName) return `it is for the agent ${grant.agentName}, not ${pod.agentName}`;
  if (grant.poolName.toLowerCase() !== pod.poolName.toLowerCase()) return `it is for the pool ${grant.poolName}, not ${pod.poolName}`;
  if (trim(grant.serverUrl) !== trim(pod.organizationUrl)) return `it is for ${grant.serverUrl}, not ${pod.organizationUrl}`;
  if (!Number.isInteger(grant.agentId) || !Number.isInteger(grant.poolId) || !grant.clientId || !/^https?:\/\//.test(grant.authorizationUrl) || !/^https?:\/\//.test(grant.oauthEndpointUrl)) {
    return 'it lacks the agent id, pool id, client id or token URLs';
  }
  return grant.noticeUrl === undefined ? undefined : noticeUrlProblem(grant.noticeUrl);
}

/**
 * The agent's settings files (`.agent`, `.credentials`) as config.sh would write them for this grant, and, when the
 * grant has a notice address, the supervisor's (jobNoticeFile: where to send the notice, for which agent id).
 */
export function agentSettingsFiles(grant: RegistrationGrant, workFolder: string): Record<string, string> & { '.agent': string; '.credentials': string } {
  const settings = { agentId: grant.agentId, agentName: grant.agentName, poolId: grant.poolId, poolName: grant.poolName, serverUrl: grant.serverUrl, workFolder };
  const credentials = { scheme: 'OAuth', data: { clientId: grant.clientId, authorizationUrl: grant.authorizationUrl, oauthEndpointUrl: grant.oauthEndpointUrl } };
  return {
    '.agent': JSON.stringify(settings, null, 2),
    '.credentials': JSON.stringify(credentials, null, 2),
    ...(grant.noticeUrl !== undefined && { [jobNoticeFile]: JSON.stringify({ url: grant.noticeUrl, agentId: grant.agentId }) }),
  };
}
