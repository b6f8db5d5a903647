// KEDA's operator for bench/vs-keda.ts: built from KEDA's Go module (build.sh, cached by version), run out of cluster
// against the test cluster, and the ScaledJob its Azure Pipelines docs describe, with our runner image as the job.
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { output } from '../../tests/support/process.js';
import { kubectl } from '../../tests/support/cluster.js';
import { agentJobPodSpec } from '../../tests/support/agent-job-pod.js';

export const kedaVersion = '2.21.0';
const buildScript = new URL('./build.sh', import.meta.url).pathname;

export interface KedaBuild {
  operator: string;
  crdDir: string;
  /** Seconds the build took when it ran (it is cached afterwards), and on which day. */
  buildSeconds: string;
}

/** Builds KEDA's operator from the Go module proxy once per version (about 6 minutes and 2.8 GB on 2 idle cores). */
export async function buildKeda(): Promise<KedaBuild> {
  const lines = (await output(buildScript, [], { env: { ...process.env, KEDA_VERSION: kedaVersion }, timeoutMs: 60 * 60_000 })).trim().split('\n');
  const dir = lines[lines.length - 1];
  return { operator: join(dir, 'bin', 'keda-operator'), crdDir: join(dir, 'crd'), buildSeconds: readFileSync(join(dir, 'build-seconds'), 'utf8').trim() };
}

/** KEDA's CRDs (ScaledJob, ScaledObject, TriggerAuthentication…), applied server-side: they are too big for an annotation. */
export async function installCrds(build: KedaBuild): Promise<void> {
  for (const file of readdirSync(build.crdDir)) await kubectl(['apply', '--server-side', '--force-conflicts', '-f', join(build.crdDir, file)]);
  await kubectl(['wait', '--for=condition=Established', 'crd/scaledjobs.keda.sh', '--timeout=60s']);
}

export async function removeCrds(build: KedaBuild): Promise<void> {
  for (const file of readdirSync(build.crdDir)) await kubectl(['delete', '--ignore-not-found', '--wait=false', '-f', join(build.crdDir, file)]);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * The serving certificate of its metrics service (the gRPC server the metrics adapter calls, ca.crt + tls.crt +
 * tls.key in --cert-dir), from a CA of its own, as its Helm chart's cert rotation would make it.
 */
async function servingCertificate(dir: string, namespace: string): Promise<void> {
  const file = (name: string) => join(dir, name);
  await output('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=KEDA/O=KEDAORG', '-keyout', file('ca.key'), '-out', file('ca.crt')]);
  await output('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=keda-operator', '-keyout', file('tls.key'), '-out', file('tls.csr')]);
  writeFileSync(file('san.ext'), `subjectAltName=DNS:keda-operator,DNS:keda-operator.${namespace}.svc,DNS:keda-operator.${namespace}.svc.cluster.local,DNS:localhost,IP:127.0.0.1\n`);
  await output('openssl', ['x509', '-req', '-in', file('tls.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '2', '-out', file('tls.crt'), '-extfile', file('san.ext')]);
}

export interface RunningKeda {
  logPath: string;
  stop(): Promise<void>;
}

/**
 * Starts the operator out of cluster with an admin kubeconfig, watching every namespace. It patches nothing: no webhook
 * (its flag --enable-webhook-patching) and no APIService (--enable-apiservice-patching), since this benchmark runs
 * neither its admission webhooks nor its metrics adapter (a ScaledJob needs only the operator).
 */
export async function startKeda(build: KedaBuild, kubeconfig: string, namespace: string): Promise<RunningKeda> {
  const certDir = mkdtempSync(join(tmpdir(), 'adr-keda-certs-'));
  await servingCertificate(certDir, namespace);
  const [metrics, probes, metricsService] = [await freePort(), await freePort(), await freePort()];
  const logPath = join(tmpdir(), 'adr-vs-keda-operator.log');
  const log = openSync(logPath, 'w');
  const child = spawn(build.operator, [
    '--enable-webhook-patching=false', '--enable-apiservice-patching=false', '--enable-cert-rotation=false', `--cert-dir=${certDir}`,
    `--metrics-bind-address=127.0.0.1:${metrics}`, `--health-probe-bind-address=127.0.0.1:${probes}`,
    `--metrics-service-bind-address=127.0.0.1:${metricsService}`, '--leader-elect=false', '--zap-time-encoding=rfc3339nano',
  ], {
    env: { ...process.env, KUBECONFIG: kubeconfig, WATCH_NAMESPACE: '', KEDA_CLUSTER_OBJECT_NAMESPACE: namespace, POD_NAMESPACE: namespace },
    stdio: ['ignore', log, log],
  });
  let exited = false;
  child.on('exit', () => (exited = true));
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (exited) throw new Error(`KEDA's operator exited at start; its log: ${logPath}\n${readFileSync(logPath, 'utf8').slice(-3000)}`);
    const ready = await fetch(`http://127.0.0.1:${probes}/readyz`).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) throw new Error(`KEDA's operator not ready after 2 minutes; its log: ${logPath}`);
    await sleep(500);
  }
  return {
    logPath,
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        for (let i = 0; i < 50 && !exited; i++) await sleep(200);
        if (!exited) child.kill('SIGKILL');
      }
      rmSync(certDir, { recursive: true, force: true });
    },
  };
}

export interface ScaledJobSettings {
  namespace: string;
  name: string;
  image: string;
  organizationUrl: string;
  poolName: string;
  /** The Secret holding the PAT under `token`: the agent registers with it, and the scaler reads the pool with it. */
  secretName: string;
  maxReplicaCount: number;
  /** Unset: KEDA's default (30 s). */
  pollingInterval?: number;
}

/**
 * A ScaledJob as KEDA's Azure Pipelines docs set one up: the trigger reads the organisation and PAT from the job
 * container's environment (organizationURLFromEnv, personalAccessTokenFromEnv) and the pool by name, everything else at
 * its default. The job is our runner image in its all mode (register, run one job with --once, and deregister on
 * exit, which the docs' agent script does in its cleanup trap and KEDA does not do itself).
 */
export function scaledJob(settings: ScaledJobSettings): object {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledJob',
    metadata: { name: settings.name, namespace: settings.namespace },
    spec: {
      maxReplicaCount: settings.maxReplicaCount,
      ...(settings.pollingInterval !== undefined && { pollingInterval: settings.pollingInterval }),
      jobTargetRef: {
        template: {
          spec: agentJobPodSpec({ ...settings, env: [{ name: 'AZP_REMOVE_ON_EXIT', value: 'true' }] }),
        },
      },
      triggers: [{
        type: 'azure-pipelines',
        metadata: { poolName: settings.poolName, organizationURLFromEnv: 'AZP_URL', personalAccessTokenFromEnv: 'AZP_TOKEN' },
      }],
    },
  };
}
