// A Kubernetes service connection → the kubeconfig the task uses, the way Microsoft's Kubernetes tasks read it.
// Checked before any call: a connection that cannot work fails naming the input and what is wrong, never quoting it.
import { dump, load } from 'js-yaml';
import { decodeBase64, encodeBase64 } from './base64.js';
import { connectionError } from './connections.js';
import type { ServiceEndpoint } from './ports/host.js';

export const kubernetesConnectionInput = 'kubernetesServiceConnection';

export interface ResolvedKubeconfig {
  /** The kubeconfig's text: it holds credentials, so it is only ever written to a private temp file. */
  text: string;
}

interface Kubeconfig {
  clusters?: Array<{ name?: string; cluster?: Record<string, unknown> }>;
  contexts?: Array<{ name?: string; context?: { cluster?: string; user?: string } }>;
  users?: Array<{ name?: string; user?: Record<string, unknown> }>;
  'current-context'?: string;
}

/** A kubeconfig's list, or none when it is missing or not a list. */
const list = <T>(value: T[] | undefined): T[] => (Array.isArray(value) ? value : []);

function isHttpUrl(text: unknown): boolean {
  if (typeof text !== 'string') return false;
  try {
    return ['https:', 'http:'].includes(new URL(text).protocol);
  } catch {
    return false;
  }
}

/** What is wrong with base64 PEM data, if anything: `kind` is CERTIFICATE or PRIVATE KEY. */
function pemProblem(data: unknown, kind: 'CERTIFICATE' | 'PRIVATE KEY'): string | undefined {
  if (typeof data !== 'string') return 'is not text';
  let pem: string;
  try {
    pem = decodeBase64(data.replace(/\s+/g, ''));
  } catch {
    return 'is not base64';
  }
  return new RegExp(`-----BEGIN [A-Z ]*${kind}-----`).test(pem) ? undefined : `does not hold a PEM ${kind.toLowerCase()}`;
}

/** A bearer token goes into an HTTP header: a line break, a space or another control character breaks it. */
function tokenProblem(token: string): string | undefined {
  if (token === '') return 'is empty';
  return /[\s\p{Cc}]/u.test(token) ? 'holds a line break, a space or another control character' : undefined;
}

/** Every reason the selected context of `config` cannot be used, in words that quote none of its values. */
function kubeconfigProblems(config: Kubeconfig, contextName: string): string[] {
  const context = list(config.contexts).find((c) => c?.name === contextName)?.context;
  if (context === undefined) return [`has no context '${contextName}' in its kubeconfig`];
  const problems: string[] = [];
  const cluster = list(config.clusters).find((c) => c?.name === context.cluster)?.cluster;
  if (cluster === undefined) problems.push(`has a context '${contextName}' whose cluster is not in its kubeconfig`);
  else {
    if (!isHttpUrl(cluster.server)) problems.push(`has a cluster whose server is not an http(s) URL`);
    const ca = cluster['certificate-authority-data'];
    const caProblem = ca === undefined ? undefined : pemProblem(ca, 'CERTIFICATE');
    if (caProblem) problems.push(`has a cluster whose certificate-authority-data ${caProblem}`);
  }
  if (context.user !== undefined) {
    const user = list(config.users).find((u) => u?.name === context.user)?.user;
    if (user === undefined) problems.push(`has a context '${contextName}' whose user is not in its kubeconfig`);
    else {
      const token = typeof user.token === 'string' ? tokenProblem(user.token) : undefined;
      if (token) problems.push(`has a user whose token ${token}`);
      for (const [field, kind] of [['client-certificate-data', 'CERTIFICATE'], ['client-key-data', 'PRIVATE KEY']] as const) {
        const problem = user[field] === undefined ? undefined : pemProblem(user[field], kind);
        if (problem) problems.push(`has a user whose ${field} ${problem}`);
      }
      // As kubectl's oidc provider does: it cannot refresh a token without the issuer (the "server" it asks).
      const provider = user['auth-provider'] as { name?: unknown; config?: Record<string, unknown> } | undefined;
      if (provider?.name === 'oidc' && !isHttpUrl(provider.config?.['idp-issuer-url'])) problems.push('has a user whose oidc auth-provider has no idp-issuer-url that is an http(s) URL');
    }
  }
  return problems;
}

function parseKubeconfig(id: string, text: string): Kubeconfig {
  let config: unknown;
  try {
    config = load(text);
  } catch (error) {
    // The parser's message quotes the lines around the fault, which may hold a token: give only where it is.
    const mark = (error as { mark?: { line: number; column: number } }).mark;
    throw connectionError(kubernetesConnectionInput, id, `holds a kubeconfig that is not valid YAML${mark ? ` (line ${mark.line + 1}, column ${mark.column + 1})` : ''}.`);
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw connectionError(kubernetesConnectionInput, id, 'holds a kubeconfig that is not a YAML mapping (clusters, contexts, users).');
  }
  return config;
}

export function kubeconfigFromEndpoint(endpointId: string, endpoint: ServiceEndpoint): ResolvedKubeconfig {
  const fail = (what: string) => connectionError(kubernetesConnectionInput, endpointId, what);
  const type = (endpoint.data.authorizationType ?? 'Kubeconfig').toLowerCase();
  const insecure = endpoint.data.acceptUntrustedCerts?.toLowerCase() === 'true';
  if (type === 'kubeconfig') {
    const text = endpoint.parameters.kubeconfig;
    if (!text) throw fail('has no kubeconfig.');
    const config = parseKubeconfig(endpointId, text);
    const context = endpoint.data.clusterContext || config['current-context'];
    if (!context) throw fail('holds a kubeconfig with no current context: set current-context in it, or the connection\'s cluster context.');
    const problems = kubeconfigProblems(config, context);
    if (problems.length > 0) throw fail(`${problems.join('; ')}.`);
    config['current-context'] = context;
    if (insecure) for (const cluster of list(config.clusters)) if (cluster?.cluster) cluster.cluster['insecure-skip-tls-verify'] = true;
    return { text: dump(config) };
  }
  if (type === 'serviceaccount' || type === 'azuresubscription') {
    const server = endpoint.url;
    if (!isHttpUrl(server)) throw fail('has a server URL that is not an http(s) URL.');
    let token: string;
    try {
      token = endpoint.parameters.apiToken ? decodeBase64(endpoint.parameters.apiToken) : '';
    } catch {
      throw fail('has a service account token that is not base64.');
    }
    const problem = tokenProblem(token);
    if (problem) throw fail(`has a service account token that ${problem}.`);
    const ca = endpoint.parameters.serviceAccountCertificate;
    const cluster: Record<string, unknown> = { server };
    if (insecure) cluster['insecure-skip-tls-verify'] = true;
    else if (ca) cluster['certificate-authority-data'] = /BEGIN CERTIFICATE/.test(ca) ? encodeBase64(ca) : ca;
    const config = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'cluster', cluster }],
      users: [{ name: 'service-account', user: { token } }],
      contexts: [{ name: 'service-connection', context: { cluster: 'cluster', user: 'service-account' } }],
      'current-context': 'service-connection',
    };
    const caProblem = cluster['certificate-authority-data'] === undefined ? undefined : pemProblem(cluster['certificate-authority-data'], 'CERTIFICATE');
    if (caProblem) throw fail(`has a service account certificate that ${caProblem}.`);
    return { text: dump(config) };
  }
  throw fail(`uses the authorization type '${endpoint.data.authorizationType}', which this task does not support (use Kubeconfig or Service account).`);
}
