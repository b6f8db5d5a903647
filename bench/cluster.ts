// Benchmark of the local test cluster: cold build time of its binaries and warm `up` time.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { localClusterEnv } from '../tests/support/cluster.js';
import { output as run } from '../tests/support/process.js';

const script = new URL('../tests/cluster/cluster.sh', import.meta.url).pathname;

async function timed(action: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await action();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function main(): Promise<void> {
  const env = await localClusterEnv();
  const cache = env.get('K8S_CACHE') ?? '';
  const measured = join(cache, 'build-seconds');
  const cached = existsSync(join(cache, 'bin', 'kubelet'));
  await run(script, ['build'], { timeoutMs: 60 * 60_000 });
  // build.sh records each cold build, so a cached build reports the last real measurement.
  const [seconds, date] = readFileSync(measured, 'utf8').trim().split(' ');
  console.log(`cluster-build-cold-s: ${seconds}${cached ? ` (cached, measured ${date})` : ''}`);

  const wasRunning = await run(script, ['status']).then(() => true, () => false);
  if (wasRunning) await run(script, ['down']);
  const upSeconds = await timed(() => run(script, ['up'], { timeoutMs: 10 * 60_000 }));
  console.log(`cluster-up-warm-s: ${upSeconds.toFixed(1)}`);
  // Leave the machine as it was found.
  if (!wasRunning) await run(script, ['down']);
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
