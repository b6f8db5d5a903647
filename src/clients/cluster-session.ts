// Opens the cluster a task works on, from its connection inputs, and removes the temporary kubeconfig in every outcome.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { KubeConfig } from '@kubernetes/client-node';
import type { TaskHost } from '../core/ports/host.js';
import type { ClusterConnection } from '../core/model.js';
import type { KubeClient } from '../core/ports/kube.js';
import { kubeconfigFromEndpoint, kubernetesConnectionInput } from '../core/kubeconfig.js';
import { connectionError, readEndpoint } from '../core/connections.js';
import { UnusableInput } from '../core/inputs.js';

export interface ClusterSession {
  connect(): Promise<KubeClient>;
  close(): void;
}

// Where a pod's service account token is mounted (what @kubernetes/client-node's loadFromCluster reads).
const podTokenFile = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** inCluster works only inside a pod with a service account token: say so instead of a failed call to nowhere. */
function checkInPod(): void {
  const outside = !process.env.KUBERNETES_SERVICE_HOST ? 'KUBERNETES_SERVICE_HOST is not set' : !existsSync(podTokenFile) ? `there is no service account token at ${podTokenFile}` : undefined;
  if (outside) throw new UnusableInput('connectionType', `inCluster needs the task to run in a Kubernetes pod with a service account token, but ${outside}.`);
}

/** The user's credentials are got, and the client certificate, key and certificate authority loaded as TLS would, before any call. */
async function checkTls(config: KubeConfig, fail: (what: string) => Error): Promise<void> {
  const options: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
  try {
    await config.applyToHTTPSOptions(options);
  } catch (error) {
    // An auth-provider or exec plugin failed (an OIDC refresh, a missing command): its message may quote what it holds.
    const user = config.getCurrentUser();
    const plugin = user?.authProvider ? `its ${String((user.authProvider as { name?: unknown }).name)} auth-provider` : user?.exec ? 'its exec plugin' : 'its credential plugin';
    throw fail(`has a user whose credentials the Kubernetes client cannot get: ${plugin} failed (${(error as { code?: string }).code ?? (error as Error).name}).`);
  }
  try {
    createSecureContext({ ca: options.ca, cert: options.cert, key: options.key });
  } catch (error) {
    // OpenSSL's reason (e.g. "PEM routines::no start line") names the fault, never the material.
    const reason = (error as { reason?: string; code?: string }).reason ?? (error as { code?: string }).code ?? 'unknown reason';
    throw fail(`has a client certificate, client key or certificate authority that TLS cannot use (${reason}).`);
  }
}

export function openClusterSession(connection: ClusterConnection, host: TaskHost): ClusterSession {
  let dir: string | undefined;
  return {
    async connect() {
      // Loaded on first use: the Kubernetes library is most of the bundle, and validation must stay fast.
      const { HttpKubeClient, loadKubeConfig } = await import('./kube-http.js');
      if (connection.kind === 'inCluster') {
        checkInPod();
        return new HttpKubeClient(loadKubeConfig(undefined));
      }
      const id = connection.endpointId;
      const resolved = kubeconfigFromEndpoint(id, readEndpoint(host, kubernetesConnectionInput, id));
      dir = mkdtempSync(join(host.getVariable('Agent.TempDirectory') ?? tmpdir(), 'kubeconfig-'));
      const path = join(dir, 'config');
      writeFileSync(path, resolved.text, { mode: 0o600 });
      const fail = (what: string) => connectionError(kubernetesConnectionInput, id, what);
      let config: KubeConfig;
      try {
        config = loadKubeConfig(path);
      } catch {
        throw fail('holds a kubeconfig the Kubernetes client cannot load.');
      }
      await checkTls(config, fail);
      return new HttpKubeClient(config);
    },
    close() {
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}
