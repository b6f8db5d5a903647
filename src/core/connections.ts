// Service connections as the tasks read them: every credential one holds is masked at once, and a connection that
// cannot be used fails naming the input that chose it, without ever quoting what the connection holds.
import { load } from 'js-yaml';
import { decodeBase64 } from './base64.js';
import type { ServiceEndpoint, TaskHost } from './ports/host.js';
import { UnusableInput } from './inputs.js';

/** A connection that cannot be used: says which input chose it and what is wrong, never what it holds. */
export function connectionError(input: string, id: string, what: string): UnusableInput {
  return new UnusableInput(input, `the service connection '${id}' ${what}`);
}

/** The connection `input` names. Fails, naming the input, when it is missing or unreadable. */
export function readEndpoint(host: Pick<TaskHost, 'getEndpoint'>, input: string, id: string): ServiceEndpoint {
  let endpoint: ServiceEndpoint | undefined;
  try {
    endpoint = host.getEndpoint(id);
  } catch (error) {
    throw connectionError(input, id, (error as Error).message);
  }
  if (endpoint === undefined) throw connectionError(input, id, 'was not found or is not authorized for this pipeline.');
  return endpoint;
}

/**
 * The job's own connection to its organization (SystemVssConnection: its URL and the job's access token), which the
 * agent hands every task; undefined when this step has none (a token not made available, a run outside a pipeline).
 */
export function systemConnection(host: Pick<TaskHost, 'getEndpoint' | 'getVariable'>): { url: string; token: string } | undefined {
  let endpoint: ServiceEndpoint | undefined;
  try {
    endpoint = host.getEndpoint('SystemVssConnection');
  } catch {
    return undefined;
  }
  const token = Object.entries(endpoint?.parameters ?? {}).find(([name]) => name.toLowerCase() === 'accesstoken')?.[1];
  const url = endpoint?.url ?? host.getVariable('System.CollectionUri');
  return token && url ? { url, token } : undefined;
}

// Authorization parameters that are credentials (compared without case): registry, ACR and service account ones.
const secretParameters = ['password', 'apitoken', 'serviceprincipalkey', 'accesstoken', 'token', 'clientsecret'];
// The fields of a kubeconfig user that are credentials.
const kubeconfigCredentials = ['token', 'password', 'client-key-data', 'access-token', 'refresh-token', 'client-secret', 'id-token'];
const credentialLine = new RegExp(`^[\\s-]*["']?(${kubeconfigCredentials.join('|')})["']?\\s*:\\s*(.*?)\\s*$`);

function tryDecodeBase64(text: string): string | undefined {
  try {
    return decodeBase64(text.replace(/\s+/g, ''));
  } catch {
    return undefined;
  }
}

/** Each value and, for base64 ones, what it decodes to; line by line, since the agent masks within one line. */
function maskable(value: string, base64: boolean): string[] {
  const decoded = base64 ? tryDecodeBase64(value) : undefined;
  return [value, ...(decoded === undefined ? [] : [decoded])]
    .flatMap((text) => text.split(/\r\n|\r|\n/))
    .map((line) => line.trim())
    .filter((line) => line !== '' && !/^-----(BEGIN|END) /.test(line));
}

/** The credentials of a kubeconfig: read from its YAML when it parses, and line by line in any case. */
function kubeconfigSecrets(text: string): string[] {
  const found: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node !== null && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (kubeconfigCredentials.includes(key) && typeof value === 'string') found.push(...maskable(value, key.endsWith('-data')));
        else walk(value);
      }
    }
  };
  try {
    walk((load(text) as { users?: unknown } | undefined)?.users);
  } catch {
    // Not YAML: the lines below still find the credentials of a block-style kubeconfig.
  }
  for (const line of text.split(/\r\n|\r|\n/)) {
    const match = credentialLine.exec(line);
    const value = match?.[2].replace(/^(["'])(.*)\1$/, '$2');
    if (match && value) found.push(...maskable(value, match[1].endsWith('-data')));
  }
  return found;
}

/** Every credential a service connection holds, ready to be masked (one line each, never empty). */
export function endpointSecrets(endpoint: ServiceEndpoint): string[] {
  const found: string[] = [];
  for (const [name, value] of Object.entries(endpoint.parameters)) {
    if (!value) continue;
    if (name.toLowerCase() === 'kubeconfig') found.push(...kubeconfigSecrets(value));
    else if (secretParameters.includes(name.toLowerCase())) found.push(...maskable(value, name.toLowerCase() === 'apitoken'));
  }
  return [...new Set(found)];
}
