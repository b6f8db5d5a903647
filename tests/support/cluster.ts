// Gives e2e suites a Kubernetes cluster: the one $KUBECONFIG names, or the local one of tests/cluster/cluster.sh.
import { output, type RunOptions } from './process.js';

const clusterScript = new URL('../cluster/cluster.sh', import.meta.url).pathname;

export interface Cluster {
  /** Path of a kubeconfig with cluster-admin rights. */
  kubeconfig: string;
  /** host:port of a registry the cluster's nodes pull from (plain HTTP); undefined when not known. */
  registry: string | undefined;
  /** The kubectl binary to use (the one built with the local cluster, or `kubectl` from PATH). */
  kubectlPath: string;
  /** True when the cluster is the local one started by tests/cluster/cluster.sh. */
  local: boolean;
}

function parseEnv(text: string): Map<string, string> {
  const entries = text
    .split('\n')
    .filter((line) => line.includes('='))
    .map((line): [string, string] => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]);
  return new Map(entries);
}

/** KEY=VALUE facts of the local cluster (paths, versions), from `cluster.sh env`. */
export async function localClusterEnv(): Promise<Map<string, string>> {
  return parseEnv(await output(clusterScript, ['env']));
}

let shared: Promise<Cluster> | undefined;

/**
 * The cluster for this test process. With $KUBECONFIG set that cluster is used as it is (kind, minikube, AKS…;
 * $ADR_TEST_REGISTRY then names a registry its nodes can pull from). Otherwise the local cluster is started
 * (built first if needed: ~6 min once per machine). `up` is idempotent, so every e2e file shares one cluster;
 * it stays up between files and `.ci/run` stops it with `cluster.sh down`.
 */
export function cluster(): Promise<Cluster> {
  shared ??= (async (): Promise<Cluster> => {
    const external = process.env.KUBECONFIG;
    if (external) {
      return {
        kubeconfig: external,
        registry: process.env.ADR_TEST_REGISTRY || undefined,
        kubectlPath: process.env.KUBECTL || 'kubectl',
        local: false,
      };
    }
    if (process.getuid?.() !== 0) throw new Error('the local test cluster needs root (or set KUBECONFIG)');
    await output(clusterScript, ['up'], { timeoutMs: 20 * 60_000 });
    const env = await localClusterEnv();
    const get = (key: string): string => {
      const value = env.get(key);
      if (!value) throw new Error(`cluster.sh env printed no ${key}`);
      return value;
    };
    return { kubeconfig: get('KUBECONFIG'), registry: get('REGISTRY'), kubectlPath: get('KUBECTL'), local: true };
  })();
  return shared;
}

/**
 * The local cluster's second API server (`cluster.sh legacy`): container restart rules off, as on Kubernetes
 * 1.30-1.34, and RBAC enforced. Pods reach it as the kubernetes Service. Returns its admin kubeconfig's path.
 */
export async function legacyApiServer(): Promise<string> {
  const c = await cluster();
  if (!c.local) throw new Error('the legacy API server exists only on the local test cluster');
  const printed = parseEnv(await output(clusterScript, ['legacy'], { timeoutMs: 120_000 }));
  const kubeconfig = printed.get('LEGACY_KUBECONFIG');
  if (!kubeconfig) throw new Error('cluster.sh legacy printed no LEGACY_KUBECONFIG');
  return kubeconfig;
}

/** Runs kubectl against the test cluster and returns its stdout. */
export async function kubectl(args: readonly string[], options: RunOptions = {}): Promise<string> {
  const c = await cluster();
  return output(c.kubectlPath, args, { ...options, env: { ...process.env, ...options.env, KUBECONFIG: c.kubeconfig } });
}

/** kubectl with `-o json`, parsed. */
export async function kubectlJson<T>(args: readonly string[]): Promise<T> {
  return JSON.parse(await kubectl([...args, '-o', 'json'])) as T;
}

/** Runs buildah on the image storage the local cluster's scripts use (so `pushImage` finds what it built). */
export function buildah(args: readonly string[]): Promise<string> {
  return output(clusterScript, ['buildah', ...args], { timeoutMs: 10 * 60_000 });
}

/**
 * Pushes a locally built image to the cluster's registry and returns the reference pods should use
 * (with imagePullPolicy IfNotPresent: the only way an image reaches the node, as on users' clusters).
 * `from` says where the image was built: buildah (our storage) or a running Docker engine.
 */
export async function pushImage(image: string, nameTag: string, from: 'buildah' | 'docker' = 'buildah'): Promise<string> {
  const { registry } = await cluster();
  if (!registry) throw new Error('no registry for this cluster: set ADR_TEST_REGISTRY to one its nodes pull from');
  const ref = `${registry}/${nameTag}`;
  if (from === 'docker') {
    await output('docker', ['tag', image, ref]);
    await output('docker', ['push', '--quiet', ref], { timeoutMs: 10 * 60_000 });
    // By its digest, as BuildRunnerImage hands it on: a node that kept an earlier push of the same tag (an earlier run
    // on this machine) would otherwise start pods of that old image.
    const name = ref.replace(/:[^:/]+$/, '');
    const digests = JSON.parse(await output('docker', ['inspect', '--format', '{{json .RepoDigests}}', ref])) as string[];
    const digest = digests.find((line) => line.startsWith(`${name}@sha256:`));
    if (digest === undefined) throw new Error(`docker push ${ref} left no digest for it`);
    return `${ref}@${digest.slice(name.length + 1)}`;
  } else {
    await output(clusterScript, ['push', image, ref], { timeoutMs: 10 * 60_000 });
  }
  return ref;
}

/** Polls `check` until it returns a value (not undefined) or the time is up. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > end) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
