// Jobs that build and run an image in each Docker mode, shared by the e2e suite and the benchmark: the same small
// Dockerfile everywhere, built from what the agent container holds (nothing to pull: no registry is reachable here).
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DockerMode } from '../../src/core/model.js';
import type { JobSpec } from '../../emulator/src/types.js';
import { kubectlJson, localClusterEnv, pushImage, waitFor } from './cluster.js';
import type { AdminJob } from './emulator.js';
import { probeField, probeScript, type ImageTool } from './pool-jobs.js';
import { buildDindImage, ensureDockerToolsBase } from './runner-image.js';
import { deployPool, startPoolWorld, type PoolWorld } from './runner-pool.js';
import type { TaskRun } from './run-task.js';
import { run } from './process.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

export const dockerModes = ['none', 'hostSocket', 'dind', 'buildah'] as const satisfies readonly DockerMode[];

/** The Azure DevOps pool of a mode's runner pool. */
export const dockerPool = (mode: DockerMode) => `Docker ${mode}`;

export interface DockerWorld extends PoolWorld {
  /** The dind sidecar's image, built from images/dind in the cluster's registry. */
  dindImage: string;
  /** buildahSeccompProfile: the project's profile where the test installed it on the node, else Unconfined. */
  buildahSeccompProfile: string;
}

/**
 * A pool world for the Docker modes: the runner image with docker.io (its CLI) and buildah, a pool per mode, the
 * dind image pushed, and on the local cluster configs/seccomp/buildah.json installed as an administrator would
 * (the kubelet's seccomp directory).
 */
export async function startDockerWorld(tag: string): Promise<DockerWorld> {
  const world = await startPoolWorld(dockerPool('none'), tag, { baseImage: ensureDockerToolsBase, extraPackages: 'docker.io buildah' });
  for (const mode of dockerModes.slice(1)) await world.emulator.admin.createPool(dockerPool(mode));
  const dindImage = await pushImage(await buildDindImage(`localhost/azp-dind:${tag}`), `azp-dind:${tag}`, 'docker');
  let buildahSeccompProfile = 'Unconfined';
  if (world.cluster.local) {
    const dir = join((await localClusterEnv()).get('KUBELET_DIR')!, 'seccomp', 'azure-devops-runner');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'buildah.json'), readFileSync(new URL('../../configs/seccomp/buildah.json', import.meta.url), 'utf8'));
    buildahSeccompProfile = 'localhost/azure-devops-runner/buildah.json';
  }
  return { ...world, dindImage, buildahSeccompProfile };
}

/**
 * DeployRunnerPool for one slot of a mode in `namespace` (runner name: the mode's), with what the mode needs here.
 * podContainers' containers come with `inputs` (jobContainers, serviceContainers); it needs nothing of a DockerWorld.
 */
export function deployDockerPool(world: PoolWorld, namespace: string, mode: 'none' | 'podContainers', inputs?: Record<string, string>): Promise<TaskRun>;
export function deployDockerPool(world: DockerWorld, namespace: string, mode: DockerMode, inputs?: Record<string, string>): Promise<TaskRun>;
export function deployDockerPool(world: PoolWorld | DockerWorld, namespace: string, mode: DockerMode, inputs: Record<string, string> = {}): Promise<TaskRun> {
  const needs = 'dindImage' in world ? engineNeeds(world)[mode] : {};
  return deployPool(world, { namespace, poolName: dockerPool(mode), runnerName: mode.toLowerCase(), replicas: '1', dockerMode: mode, rolloutStatusTimeout: '300', ...needs, ...inputs });
}

/** What each mode's pool needs of a DockerWorld. */
function engineNeeds(world: DockerWorld): Record<DockerMode, Record<string, string>> {
  return {
    none: {},
    // The node is this machine: the agent joins the group of its socket.
    hostSocket: { dockerSocketGroupId: String(statSync('/var/run/docker.sock').gid) },
    dind: { dindImage: world.dindImage },
    buildah: { buildahSeccompProfile: world.buildahSeccompProfile },
    podContainers: {},
  };
}

/** The slot of a mode's pool (one slot: `<mode>-0`). */
export const dockerSlot = (mode: DockerMode) => `${mode.toLowerCase()}-0`;

/** The pod of a mode's slot once its agent is online and idle, and the pod that came before it is gone. */
export async function idlePod(world: PoolWorld, namespace: string, mode: DockerMode, notUid?: string): Promise<Any> {
  const name = dockerSlot(mode);
  await world.emulator.admin.waitFor(() => world.emulator.admin.agents(dockerPool(mode)), (agents) => agents.some((a) => a.name === name && a.status === 'online' && !a.assignedRequest), 300_000, `${name} online`);
  return waitFor(`${name} replaced`, 120_000, async () => {
    const pod = await kubectlJson<Any>(['get', 'pod', name, '-n', namespace]);
    return pod.metadata.uid !== notUid && pod.status.phase === 'Running' ? pod : undefined;
  });
}

/** The tool a mode's jobs build with. */
export const imageTool = (mode: Exclude<DockerMode, 'none'>): ImageTool => (mode === 'buildah' ? 'buildah' : 'docker');

/** The repository every job's image is tagged in; each job's tag is its pod's UID. */
export const jobRepository = 'adr-docker-job';

export interface ImageJob {
  tool: ImageTool;
  /** buildah: also push the image there (plain HTTP, basic auth); `repository` is host:port/name. */
  push?: { repository: string; username: string; password: string };
  /** Leave a running container, a volume and a network behind (what hostSocket's sidecar must clean up). */
  leaveBehind?: boolean;
  /** More lines after the build, run and push. */
  then?: string[];
}

// The build context: bash and the libraries it loads, so the image runs bash; RUN writes a file that names the job,
// CMD prints it. A cold build is one without the tool's layer cache; the cached build is the same build again.
const buildContext = [
  'ctx=$(mktemp -d)',
  'mkdir -p "$ctx/rootfs/bin" && cp /bin/bash "$ctx/rootfs/bin/"',
  'for lib in $(ldd /bin/bash | grep -o "/[^ ]*"); do mkdir -p "$ctx/rootfs$(dirname "$lib")" && cp -L "$lib" "$ctx/rootfs$lib"; done',
  `cat >"$ctx/Dockerfile" <<'EOF'`,
  'FROM scratch',
  'COPY rootfs/ /',
  'ARG JOB',
  'RUN ["/bin/bash", "-c", "echo \\"built-for-$JOB\\" >/greeting"]',
  'CMD ["/bin/bash", "-c", "read -r line </greeting; echo \\"$line\\""]',
  'EOF',
  'now_ms() { echo $(($(date +%s%N) / 1000000)); }',
];

const buildAndRun: Record<ImageTool, string[]> = {
  docker: [
    `tag=${jobRepository}:$RUNNER_POD_UID`,
    't0=$(now_ms); docker build -q --no-cache --build-arg "JOB=$RUNNER_POD_UID" -t "$tag" "$ctx" >/dev/null',
    't1=$(now_ms); docker build -q --build-arg "JOB=$RUNNER_POD_UID" -t "$tag" "$ctx" >/dev/null; t2=$(now_ms)',
    'docker run --rm "$tag"',
  ],
  buildah: [
    `tag=${jobRepository}:$RUNNER_POD_UID`,
    // --layers: buildah keeps no layer cache without it, and the second build would be a cold one again.
    't0=$(now_ms); buildah bud -q --layers --no-cache --build-arg "JOB=$RUNNER_POD_UID" -t "$tag" "$ctx" >/dev/null',
    't1=$(now_ms); buildah bud -q --layers --build-arg "JOB=$RUNNER_POD_UID" -t "$tag" "$ctx" >/dev/null; t2=$(now_ms)',
    'c=$(buildah from "$tag") && buildah run "$c" -- /bin/bash -c \'read -r line </greeting; echo "$line"\' && buildah rm "$c" >/dev/null',
  ],
};

// buildah only: the Docker engines here speak plain HTTP to registries on their loopback alone.
const pushLines = ({ repository, username, password }: NonNullable<ImageJob['push']>) => [
  `buildah push -q --tls-verify=false --creds '${username}:${password}' --digestfile "$ctx/digest" "$tag" "docker://${repository}:$RUNNER_POD_UID"`,
  'echo "pushed=$(cat "$ctx/digest")"',
];

// A container that keeps running (bash waits on its open stdin), and a volume and a network, all named after the pod.
const leaveBehind = [
  'docker run -d -i --name "left-$RUNNER_POD_UID" "$tag" /bin/bash -c "read -rt 600 || :" >/dev/null',
  'docker volume create "left-$RUNNER_POD_UID" >/dev/null && docker network create "left-$RUNNER_POD_UID" >/dev/null',
  'echo "left-behind=left-$RUNNER_POD_UID"',
];

/** A job that builds the image cold and cached, runs a container from it, and prints what it measured. */
export function imageJobScript(job: ImageJob): string {
  if (job.push && job.tool !== 'buildah') throw new Error('only buildah jobs push here');
  return [
    'set -euo pipefail',
    // The job's own privileges: an unprivileged agent has no effective capability.
    'echo "cap-eff=$(awk \'/^CapEff/ {print $2}\' /proc/self/status) no-new-privs=$(awk \'/^NoNewPrivs/ {print $2}\' /proc/self/status)"',
    ...buildContext,
    ...buildAndRun[job.tool],
    'echo "build-cold-ms=$((t1 - t0)) build-cached-ms=$((t2 - t1))"',
    ...(job.push ? pushLines(job.push) : []),
    ...(job.leaveBehind ? leaveBehind : []),
    ...(job.then ?? []),
    'echo done-image-job',
  ].join('\n');
}

/** The image job, then the credential probe through the same tool (in one job: one fresh pod). */
export function imageAndProbeScript(world: PoolWorld, job: ImageJob): string {
  // The probe's `… | grep -q … && echo LEAK` must see grep's answer, whatever happens to the command before it.
  return `${imageJobScript(job)}\nset +euo pipefail\n${probeScript(world, 0, job.tool)}`;
}

/** Runs a job on a mode's pool: a script, or a job spec with steps and containers. */
export async function runJob(world: PoolWorld, mode: DockerMode, job: string | JobSpec, timeoutMs = 5 * 60_000): Promise<{ job: AdminJob; log: string }> {
  const spec = typeof job === 'string' ? { name: 'docker-job', script: job } : job;
  const queued = await world.emulator.admin.queueJob({ pool: dockerPool(mode), ...spec });
  if ('rejected' in queued) throw new Error(`the job was refused: ${queued.rejected}`);
  const done = await world.emulator.admin.waitForJob(queued.requestId, timeoutMs);
  return { job: done, log: await world.emulator.admin.jobLog(queued.requestId) };
}

/** Removes the images hostSocket jobs left on the node's engine (this machine's). */
export async function removeJobImages(): Promise<void> {
  const images = (await run('docker', ['images', '-q', jobRepository])).stdout.split('\n').filter(Boolean);
  if (images.length > 0) await run('docker', ['rmi', '-f', ...new Set(images)]);
}

/** Seconds of a cold and a cached build, as the job measured them. */
export function buildSeconds(log: string): { cold: number; cached: number } {
  const field = (name: string) => {
    const value = probeField(log, name);
    if (value === undefined) throw new Error(`the job printed no ${name}: ${log}`);
    return Number(value) / 1000;
  };
  return { cold: field('build-cold-ms'), cached: field('build-cached-ms') };
}
