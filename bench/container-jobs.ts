// Benchmark: container jobs in the two modes that run them, on the real (local) cluster. The same YAML-like job
// (tests/support/container-jobs.ts: a Debian job container, one service on its alias, steps on the host and in the
// container sharing the workspace), queued to finished, next to the same steps without containers, in each mode's
// pool: dind, whose fresh engine pulls both images for every job (from a registry where pods reach the node), and
// podContainers, which offers them as containers of the pod. Each job is queued once the slot's agent is idle, so the
// figure is the job's own time, not a pod start. Medians of CONTAINER_JOBS jobs of each kind (default 3).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createNamespace, deleteNamespace, nodeAddress } from '../tests/support/runner-pool.js';
import { buildServiceImage, dindImageTrusting, LocalImages, pushToRegistry, servicePort, workspaceJob, type ContainerJobImages } from '../tests/support/container-jobs.js';
import { deployDockerPool, dockerPool, idlePod, runJob, startDockerWorld, type DockerWorld } from '../tests/support/docker-jobs.js';
import { startRegistry, type TestRegistry } from '../tests/support/registry.js';
import { BASE_IMAGE } from '../tests/support/runner-image.js';
import { kubectl } from '../tests/support/cluster.js';
import type { JobSpec } from '../emulator/src/types.js';
import { median } from '../src/core/statistics.js';

const NS = 'adr-container-jobs-bench';
const jobs = Number(process.env.CONTAINER_JOBS ?? 3);

type Mode = 'dind' | 'podContainers';

/** Seconds from queued to finished of `jobs` runs of `spec`, each queued on an idle agent of a fresh pod. */
async function queuedToFinished(world: DockerWorld, mode: Mode, spec: JobSpec): Promise<number[]> {
  const seconds: number[] = [];
  let lastPod: string | undefined;
  for (let i = 0; i < jobs; i++) {
    lastPod = (await idlePod(world, NS, mode, lastPod)).metadata.uid;
    const { job, log } = await runJob(world, mode, spec);
    assert.equal(job.result, 'succeeded', log);
    assert.match(log, /host-read=from the container/, log);
    seconds.push((Date.parse(job.finishTime!) - Date.parse(job.queueTime)) / 1000);
  }
  return seconds;
}

async function main() {
  const world = await startDockerWorld('container-jobs-bench');
  const images = new LocalImages();
  let registry: TestRegistry | undefined;
  try {
    if (!world.cluster.local) throw new Error('container-jobs needs the local cluster: the dind engine pulls from a registry on the node');
    await world.emulator.admin.createPool(dockerPool('podContainers'));
    await createNamespace(NS);
    registry = await startRegistry(17000 + (process.pid % 1000), 'ci', `pw-${randomBytes(12).toString('hex')}`, nodeAddress);
    const service = await buildServiceImage(images);
    const [dindImage, pulledJob, pulledService, offeredJob, offeredService] = await Promise.all([
      dindImageTrusting(world, images, registry.address),
      pushToRegistry(registry, BASE_IMAGE, 'adr-container-job:bookworm'),
      pushToRegistry(registry, service, 'adr-container-service:e2e'),
      images.push(BASE_IMAGE, 'adr-container-job:bookworm'),
      images.push(service, 'adr-container-service:e2e'),
    ]);
    const pull = { server: `http://${registry.address}`, username: registry.username, password: registry.password };
    const modes: Array<{ mode: Mode; inputs: Record<string, string>; images: ContainerJobImages }> = [
      { mode: 'dind', inputs: { dindImage }, images: { job: pulledJob, service: pulledService, registry: pull } },
      {
        mode: 'podContainers',
        inputs: { jobContainers: `build=${offeredJob}`, serviceContainers: `cache=${offeredService} aliases=kv ready=tcp:${servicePort}` },
        images: { job: offeredJob, service: offeredService, demands: [`RUNNER_CONTAINER_BUILD -equals ${offeredJob}`] },
      },
    ];
    for (const { mode, inputs, images: jobImages } of modes) {
      const deployed = await deployDockerPool(world, NS, mode, inputs);
      if (deployed.result !== 'Succeeded') throw new Error(`deploy ${mode} failed: ${deployed.message}`);
      const contained = await queuedToFinished(world, mode, workspaceJob(jobImages));
      const plain = await queuedToFinished(world, mode, workspaceJob());
      console.log(`container-job-s ${mode}: ${median(contained).toFixed(1)}`);
      console.log(`container-job-s ${mode} without containers: ${median(plain).toFixed(1)}`);
      await kubectl(['scale', 'statefulset', mode.toLowerCase(), '-n', NS, '--replicas=0']);
    }
  } finally {
    await deleteNamespace(NS);
    await registry?.stop();
    await images.remove();
    await world.stop();
  }
}

await main();
