// The product's Kubernetes client pointed at a plain local HTTP server (tests of what it sends and how it ends).
import { KubeConfig } from '@kubernetes/client-node';
import { HttpKubeClient } from '../../src/clients/kube-http.js';

/** The Kubernetes client for a plain HTTP server. */
export function kubeClientAt(server: string): HttpKubeClient {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return new HttpKubeClient(config);
}
