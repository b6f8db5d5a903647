// Opens the cluster a task works on, from its connection inputs, and removes the temporary kubeconfig in every outcome.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TaskHost } from '../core/ports/host.js';
import type { ClusterConnection } from '../core/model.js';
import type { KubeClient } from '../core/ports/kube.js';
import { kubeconfigFromEndpoint } from '../core/kubeconfig.js';

export interface ClusterSession {
  connect(): Promise<KubeClient>;
  close(): void;
}

export function openClusterSession(connection: ClusterConnection, host: TaskHost): ClusterSession {
  let dir: string | undefined;
  return {
    async connect() {
      // Loaded on first use: the Kubernetes library is most of the bundle, and validation must stay fast.
      const { HttpKubeClient, loadKubeConfig } = await import('./kube-http.js');
      if (connection.kind === 'inCluster') return new HttpKubeClient(loadKubeConfig(undefined));
      const resolved = kubeconfigFromEndpoint(connection.endpointId, host.getEndpoint(connection.endpointId));
      for (const secret of resolved.secrets) host.setSecret(secret);
      dir = mkdtempSync(join(host.getVariable('Agent.TempDirectory') ?? tmpdir(), 'kubeconfig-'));
      const path = join(dir, 'config');
      writeFileSync(path, resolved.text, { mode: 0o600 });
      return new HttpKubeClient(loadKubeConfig(path));
    },
    close() {
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}
