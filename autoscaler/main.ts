// The in-cluster autoscaler's entry (autoscaler/DESIGN.md): reads its settings from the environment DeployRunnerPool
// gives it, wires the real clients into the autoscaling loop, serves /healthz and /metrics, and stops on SIGTERM.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { HttpKubeClient, loadKubeConfig } from '../src/clients/kube-http.js';
import { restAdoClient } from '../src/wiring/index.js';
import { httpRunnerHandshake } from '../src/clients/runner-handshake-http.js';
import { unheldKey } from '../src/clients/unheld-key.js';
import { loadAutoscalerKeys } from '../src/clients/autoscaler-keys.js';
import { startAutoscalerMonitor } from '../src/clients/autoscaler-metrics.js';
import { startJobNoticeServer, type JobNoticeServer } from '../src/clients/job-notice-http.js';
import { systemClock } from '../src/clients/system-clock.js';
import { runAutoscaler } from '../src/flows/autoscale.js';
import {
  autoscalerKeysDir, autoscalerMetricsPort, autoscalerNoticePort, autoscalerPodIpVariable, autoscalerTokenFile, InputError, jobNoticeUrl, readAutoscalerOptions,
  type Log, type StopSignal,
} from '../src/core/index.js';

/** EX_CONFIG: a setting is wrong; restarting will not help (the same code start.sh uses). */
const configError = 78;

const log: Log = {
  info: (message) => console.log(message),
  warning: (message) => console.log(`warning: ${message}`),
};

/** SIGTERM or SIGINT: the loop ends after the step it is in (never in the middle of a drain) and cuts its wait short. */
function stopOnSignals(): StopSignal {
  let stopped = false;
  const wakers = new Set<() => void>();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      stopped = true;
      for (const wake of wakers) wake();
    });
  }
  return {
    get stopped() {
      return stopped;
    },
    wait: (ms, until) => new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      wakers.add(done);
      void until?.then(done, done);
      if (stopped) done();
    }),
  };
}

async function main(): Promise<void> {
  let options;
  try {
    options = readAutoscalerOptions(process.env);
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    console.error(`autoscaler: ${error.message}`);
    process.exit(configError);
  }
  let keys;
  try {
    keys = loadAutoscalerKeys(autoscalerKeysDir, options.keys);
  } catch (error) {
    console.error(`autoscaler: ${(error as Error).message}`);
    process.exit(configError);
  }
  const tokenFile = process.env.AZP_TOKEN_FILE ?? autoscalerTokenFile;
  // Read at every call: a PAT rotated in its Secret reaches the file in place, and the next call uses it.
  const token = () => readFileSync(tokenFile, 'utf8').trim();
  token();
  const ado = restAdoClient(options.organizationUrl, token, options.extension, (message) => log.info(message));
  // In the cluster its own service account; KUBECONFIG for a run from outside (development, tests).
  const kube = new HttpKubeClient(loadKubeConfig(process.env.KUBECONFIG || undefined));
  const port = Number(process.env.METRICS_PORT ?? autoscalerMetricsPort);
  const monitor = await startAutoscalerMonitor(port, { pool: options.poolName, runner: options.runnerName, namespace: options.namespace }, ado, options.settings, () => Date.now());
  // Its runner pods' notices that their agent took a job, at its pod's IP (the downward API); none when run elsewhere.
  const podIp = process.env[autoscalerPodIpVariable]?.trim();
  let notices: JobNoticeServer | undefined;
  if (podIp) notices = await startJobNoticeServer(autoscalerNoticePort, () => jobNoticeUrl(podIp));
  const noticeText = notices ? `; its runner pods' job notices at ${notices.url}` : `; no job notices (${autoscalerPodIpVariable} is not set)`;
  log.info(`Autoscaling ${options.namespace}/${options.runnerName} for pool '${options.poolName}' between ${options.settings.minReplicas} and ${options.settings.maxReplicas} (standby ${options.settings.standby}), looking every ${options.settings.pollSeconds} s; /healthz and /metrics on port ${port}${noticeText}.`);
  const stop = stopOnSignals();
  await runAutoscaler(options, { kube, ado, handshake: httpRunnerHandshake(keys), clock: systemClock, log, unheldKey, identity: hostname(), notices }, stop, monitor);
  await Promise.all([monitor.close(), notices?.close()]);
  log.info('Stopped.');
}

main().catch((error: unknown) => {
  console.error(`autoscaler: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
