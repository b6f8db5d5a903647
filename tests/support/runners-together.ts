// Several runners' autoscalers side by side over one fake cluster, one emulator store and one clock, each from the
// settings DeployRunnerPool wrote for it (tests/component/several-clusters.test.ts, shared-look.test.ts).
import { runAutoscaler } from '../../src/flows/autoscale.js';
import { readAutoscalerOptions, type AutoscalerOptions } from '../../src/core/autoscaler-options.js';
import type { StopSignal } from '../../src/core/ports/clock.js';
import type { KubeClient } from '../../src/core/ports/kube.js';
import { unheldKey } from '../../src/clients/unheld-key.js';
import { MemoryHost } from './memory-host.js';
import { quietEvents, type RunnerWorld } from './runner-world.js';

/** The autoscaler's settings as DeployRunnerPool wrote them into its Deployment's environment. */
export function deployedOptions(runner: RunnerWorld): AutoscalerOptions {
  const deployment = runner.kube.peek('Deployment', runner.namespace, `${runner.runnerName}-autoscaler`)!;
  const env = (deployment.spec as { template: { spec: { containers: Array<{ env: Array<{ name: string; value?: string }> }> } } }).template.spec.containers[0].env;
  return readAutoscalerOptions(Object.fromEntries(env.flatMap(({ name, value }) => (value === undefined ? [] : [[name, value]]))));
}

export interface TogetherOptions {
  /** The Kubernetes client each autoscaler is given; default the world's own. */
  kubeOf?: (runner: RunnerWorld) => KubeClient;
  /** Each starts this long after the one before (pods of separate deployments never start at one instant). */
  startsAfterMs?: number;
}

/** The runners' autoscalers side by side until `done` holds or `seconds` of their time have passed; their logs. */
export async function autoscaleTogether(runners: RunnerWorld[], done: () => boolean, seconds: number, options: TogetherOptions = {}): Promise<MemoryHost[]> {
  const { clock } = runners[0];
  const end = clock.now() + seconds * 1000;
  const stop: StopSignal = {
    get stopped() {
      return done() || clock.now() >= end;
    },
    wait: (ms) => clock.sleep(Math.max(1, Math.min(ms, 1000))),
  };
  const logs = runners.map(() => new MemoryHost());
  await Promise.all(runners.map(async (runner, i) => {
    if (options.startsAfterMs !== undefined) await clock.sleep(i * options.startsAfterMs);
    await runAutoscaler(deployedOptions(runner), {
      kube: options.kubeOf?.(runner) ?? runner.kube, ado: runner.ado, handshake: runner.handshake, clock, log: logs[i], unheldKey, identity: `autoscaler-${runner.namespace}-${runner.runnerName}`,
    }, stop, quietEvents);
  }));
  return logs;
}
