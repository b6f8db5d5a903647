// Authentication like the service: Basic + PAT with scopes, the agent's RS256 client-assertion OAuth, Bearer tokens.
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { VssError } from './http.js';
import type { Agent, Pat, Principal, PublicKey } from './types.js';

/** Which principals a route admits: PATs/SPs holding one of `scopes`, and optionally agent or job tokens. */
export interface Access {
  scopes?: string[];
  agent?: boolean;
  job?: boolean;
  anonymous?: boolean;
}

/** Scopes that include others (manage ⊃ read, write ⊃ read, execute ⊃ read). */
const IMPLIES: Record<string, string[]> = {
  'vso.agentpools_manage': ['vso.agentpools'],
  'vso.extension.data_write': ['vso.extension.data'],
  'vso.build_execute': ['vso.build'],
};

export function patHasScope(pat: { scopes: string[] }, wanted: string[]): boolean {
  const held = new Set(pat.scopes.flatMap((scope) => [scope, ...(IMPLIES[scope] ?? [])]));
  return held.has('app_token') || wanted.some((scope) => held.has(scope));
}

/** The 401 the service answers for a missing or bad credential, with the Bearer challenge OAuth clients need. */
export function unauthorized(orgUrl: string, user = ''): VssError {
  return new VssError(401, 'UnauthorizedRequestException', `TF400813: The user '${user}' is not authorized to access this resource.`,
    'Microsoft.TeamFoundation.Framework.Server', {
      'WWW-Authenticate': `Bearer authorization_uri=${orgUrl}/_apis/oauth2/token, Basic realm="${new URL(orgUrl).origin}/", TFS-Federated`,
      'X-TFS-ProcessId': '00000000-0000-0000-0000-000000000000',
    });
}

export function forbiddenScope(scopes: string[]): VssError {
  return new VssError(403, 'UnauthorizedRequestException',
    `Access Denied: The Personal Access Token used has not been granted the scope required for this request (${scopes.join(' or ')}).`,
    'Microsoft.TeamFoundation.Framework.Server');
}

export type Credential =
  | { kind: 'none' }
  | { kind: 'basic'; user: string; password: string }
  | { kind: 'bearer'; token: string }
  | { kind: 'invalid' };

export function readCredential(req: IncomingMessage): Credential {
  const header = req.headers.authorization;
  if (!header) return { kind: 'none' };
  const [scheme, value = ''] = header.split(/\s+/, 2);
  if (scheme.toLowerCase() === 'bearer' && value) return { kind: 'bearer', token: value };
  if (scheme.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon >= 0) return { kind: 'basic', user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return { kind: 'invalid' };
}

/** How the request log and the agent writes name who sent a call. */
export function principalName(principal: Principal | undefined): string | undefined {
  switch (principal?.kind) {
    case 'pat': return `pat:${principal.user}`;
    case 'sp': return `sp:${principal.clientId}`;
    case 'agent': return `agent:${principal.agentId}`;
    case 'job': return `job:${principal.requestId}`;
    default: return undefined;
  }
}

export function patPrincipal(pat: Pat): Principal {
  return { kind: 'pat', user: pat.user, scopes: pat.scopes };
}

function base64url(text: string): string {
  return Buffer.from(text, 'base64').toString('base64url');
}

/** The agent's public key as a Node key object (the agent sends base64 exponent and modulus). */
export function agentKey(publicKey: PublicKey) {
  return createPublicKey({ key: { kty: 'RSA', n: base64url(publicKey.modulus), e: base64url(publicKey.exponent) }, format: 'jwk' });
}

const CLOCK_SKEW_SECONDS = 300;

/**
 * Verifies a client-assertion JWT (RS256, iss = sub = clientId, aud = the agent's authorizationUrl, within nbf..exp) against
 * the key the agent registered. Returns the agent or throws a message for an OAuth `invalid_client` answer.
 */
export function verifyClientAssertion(assertion: string, agents: Iterable<Agent>, authorizationUrl: string, now = Date.now()): Agent {
  const parts = assertion.split('.');
  if (parts.length !== 3) throw new Error('The client assertion is not a JWT.');
  let header: { alg?: string };
  let claims: { iss?: string; sub?: string; aud?: string; nbf?: number; exp?: number };
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')) as typeof header;
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as typeof claims;
  } catch {
    throw new Error('The client assertion is not valid JSON.');
  }
  if (header.alg !== 'RS256') throw new Error(`Unsupported signing algorithm ${String(header.alg)}.`);
  if (!claims.iss || claims.iss !== claims.sub) throw new Error('The issuer and subject must both be the client id.');
  const agent = [...agents].find((candidate) => candidate.clientId === claims.iss);
  if (!agent) throw new Error('Unknown client id.');
  if (claims.aud !== authorizationUrl) throw new Error('The audience is not this token endpoint.');
  const seconds = now / 1000;
  if (typeof claims.exp !== 'number' || claims.exp < seconds - CLOCK_SKEW_SECONDS) throw new Error('The client assertion has expired.');
  if (typeof claims.nbf === 'number' && claims.nbf > seconds + CLOCK_SKEW_SECONDS) throw new Error('The client assertion is not valid yet.');
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
  if (!verify('sha256', signed, agentKey(agent.publicKey), Buffer.from(parts[2], 'base64url'))) {
    throw new Error('The client assertion signature does not verify against the registered public key.');
  }
  return agent;
}

export function newAccessToken(): string {
  return randomBytes(32).toString('base64url');
}
