// A Kubernetes service connection → the kubeconfig the task uses, the way Microsoft's Kubernetes tasks read it.
import { dump, load } from 'js-yaml';
import { decodeBase64, encodeBase64 } from './base64.js';
import type { ServiceEndpoint } from './ports/host.js';

export interface ResolvedKubeconfig {
  /** The kubeconfig's text: it holds credentials, so it is masked and only ever written to a private temp file. */
  text: string;
  /** Derived secrets (decoded tokens) that must be masked in logs. */
  secrets: string[];
}

export function kubeconfigFromEndpoint(endpointId: string, endpoint: ServiceEndpoint | undefined): ResolvedKubeconfig {
  if (endpoint === undefined) {
    throw new Error(`Input 'kubernetesServiceConnection': the service connection '${endpointId}' was not found or is not authorized for this pipeline.`);
  }
  const type = (endpoint.data.authorizationType ?? 'Kubeconfig').toLowerCase();
  const insecure = endpoint.data.acceptUntrustedCerts?.toLowerCase() === 'true';
  if (type === 'kubeconfig') {
    const text = endpoint.parameters.kubeconfig;
    if (!text) throw new Error(`The service connection '${endpointId}' has no kubeconfig.`);
    const context = endpoint.data.clusterContext;
    if (!context && !insecure) return { text, secrets: [] };
    // Parse only to select the context and the TLS setting the connection asks for.
    const config = load(text) as { contexts?: Array<{ name: string; context: { cluster: string } }>; clusters?: Array<{ name: string; cluster: Record<string, unknown> }>; 'current-context'?: string };
    if (context) {
      if (!config.contexts?.some((c) => c.name === context)) throw new Error(`The service connection '${endpointId}' has no context '${context}' in its kubeconfig.`);
      config['current-context'] = context;
    }
    if (insecure) for (const cluster of config.clusters ?? []) cluster.cluster['insecure-skip-tls-verify'] = true;
    return { text: dump(config), secrets: [] };
  }
  if (type === 'serviceaccount' || type === 'azuresubscription') {
    const server = endpoint.url;
    const token = endpoint.parameters.apiToken ? decodeBase64(endpoint.parameters.apiToken) : '';
    const ca = endpoint.parameters.serviceAccountCertificate;
    if (!server || !token) throw new Error(`The service connection '${endpointId}' lacks the server URL or the service account token.`);
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
    return { text: dump(config), secrets: [token] };
  }
  throw new Error(`The service connection '${endpointId}' uses the authorization type '${endpoint.data.authorizationType}', which this task does not support (use Kubeconfig or Service account).`);
}
