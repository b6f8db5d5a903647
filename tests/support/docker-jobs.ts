// Jobs that build and run an image in each Docker mode, shared by the e2e suite and the benchmark: the same small
// Dockerfile everywhere, built from what the agent container holds (nothing to pull: no registry is reachable here).
import { readFileSync } from 'node:fs';
import type { DockerMode } from '../../src/core/model.js';
import type { AdminJob } from './emulator.js';
import { probeField, probeScript, type ImageTool } from './pool-jobs.js';
import type { PoolWorld } from './runner-pool.js';

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
    't0=$(now_ms); buildah bud -q --no-cache --build-arg "JOB=$RUNNER_POD_UID" -t "$tag" "$ctx" >/dev/null',
    't1=$(now_ms); buildah bud -q --build-arg "JOB=$RUNNER_POD_UID" -t "$tag" "$ctx" >/dev/null; t2=$(now_ms)',
    'c=$(buildah from "$tag") && buildah run "$c" -- /bin/bash -c \'read -r line </greeting; echo "$line"\' && buildah rm "$c" >/dev/null',
  ],
};

// buildah only: the Docker engines here speak plain HTTP to registries on their loopback alone.
const pushImage = ({ repository, username, password }: NonNullable<ImageJob['push']>) => [
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
    ...(job.push ? pushImage(job.push) : []),
    ...(job.leaveBehind ? leaveBehind : []),
    ...(job.then ?? []),
    'echo done-image-job',
  ].join('\n');
}

/** The image job, then the credential probe through the same tool (in one job: one fresh pod). */
export function imageAndProbeScript(world: PoolWorld, job: ImageJob): string {
  // The probe's `… | grep -q … && echo LEAK` must see grep's answer, whatever happens to the command before it.
  return `${imageJobScript(job)}\nset +euo pipefail\n${probeScript(world.token, 0, job.tool)}`;
}

export async function runJob(world: PoolWorld, pool: string, script: string, timeoutMs = 5 * 60_000): Promise<{ job: AdminJob; log: string }> {
  const queued = (await world.emulator.admin.queueJob({ pool, name: 'docker-job', script })) as AdminJob;
  const job = await world.emulator.admin.waitForJob(queued.requestId, timeoutMs);
  return { job, log: await world.emulator.admin.jobLog(queued.requestId) };
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

/** The project's seccomp profile for rootless buildah (configs/seccomp/buildah.json). */
export const buildahProfile = (): string => readFileSync(new URL('../../configs/seccomp/buildah.json', import.meta.url), 'utf8');
