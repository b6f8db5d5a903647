// Benchmark: the Docker modes side by side on the real cluster. The same small Dockerfile (tests/support/docker-jobs.ts:
// bash and its libraries, one RUN step) built in a job of each mode, cold (without the tool's layer cache) and
// cached (the same build again), and the time from an idle slot's pod deleted to a fresh agent online in each mode,
// next to `none`. Medians of DOCKER_JOBS jobs (default 3) and DOCKER_ONLINE pod replacements (default 3).
import { kubectl } from '../tests/support/cluster.js';
import { createNamespace, deleteNamespace } from '../tests/support/runner-pool.js';
import { buildSeconds, deployDockerPool, dockerModes, dockerPool, imageJobScript, imageTool, removeJobImages, runJob, startDockerWorld, type DockerWorld } from '../tests/support/docker-jobs.js';
import type { DockerMode } from '../src/core/model.js';
import { median } from '../src/core/statistics.js';

const NS = 'adr-docker-bench';
const jobs = Number(process.env.DOCKER_JOBS ?? 3);
const replacements = Number(process.env.DOCKER_ONLINE ?? 3);

async function idleAgent(world: DockerWorld, mode: DockerMode, after: number): Promise<void> {
  const name = `${mode.toLowerCase()}-0`;
  await world.emulator.admin.waitFor(
    () => world.emulator.admin.agents(dockerPool(mode)),
    (agents) => agents.some((a) => a.name === name && a.status === 'online' && !a.assignedRequest && Date.parse(String(a.statusChangedOn)) > after),
    300_000,
    `${name} online`,
  );
}

/** Seconds from an idle slot's pod deleted to its successor's agent online (pod, sidecars, registration). */
async function freshAgentOnline(world: DockerWorld, mode: DockerMode): Promise<number[]> {
  const seconds: number[] = [];
  for (let i = 0; i < replacements; i++) {
    const started = Date.now();
    await kubectl(['delete', 'pod', `${mode.toLowerCase()}-0`, '-n', NS, '--wait=false']);
    await idleAgent(world, mode, started + 500);
    seconds.push((Date.now() - started) / 1000);
  }
  return seconds;
}

async function main() {
  const world = await startDockerWorld('docker-bench');
  await createNamespace(NS);
  try {
    for (const mode of dockerModes) {
      if (mode === 'hostSocket' && !world.cluster.local) continue; // the node's socket: the local cluster only
      const deployed = await deployDockerPool(world, NS, mode);
      if (deployed.result !== 'Succeeded') throw new Error(`deploy ${mode} failed: ${deployed.message}`);
      await idleAgent(world, mode, 0);
      console.log(`docker-agent-online-s ${mode}: ${median(await freshAgentOnline(world, mode)).toFixed(1)}`);
      if (mode !== 'none') {
        const builds = [];
        for (let i = 0; i < jobs; i++) {
          const { job, log } = await runJob(world, mode, imageJobScript({ tool: imageTool(mode) }));
          if (job.result !== 'succeeded') throw new Error(`a ${mode} job failed: ${log}`);
          builds.push(buildSeconds(log));
        }
        console.log(`docker-job-build-s ${mode} cold: ${median(builds.map((b) => b.cold)).toFixed(2)}`);
        console.log(`docker-job-build-s ${mode} cached: ${median(builds.map((b) => b.cached)).toFixed(2)}`);
      }
      await kubectl(['scale', 'statefulset', mode.toLowerCase(), '-n', NS, '--replicas=0']);
    }
  } finally {
    await deleteNamespace(NS);
    await removeJobImages();
    await world.stop();
  }
}

await main();
