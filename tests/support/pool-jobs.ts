// Jobs that probe the runner pods they run in, shared by the pool e2e suites: what pod a job ran in, whether an
// earlier job's marker or any credential is within its reach, and a watcher that notes every back-off and restart.
import assert from 'node:assert/strict';
import { kubectl, kubectlJson } from './cluster.js';
import type { AdminJob } from './emulator.js';
import { imageVariant, type PoolWorld } from './runner-pool.js';
import type { TaskRun } from './run-task.js';

/** The image tool a job's probe also looks through: the Docker engine it reaches, or rootless buildah's storage. */
export type ImageTool = 'docker' | 'buildah';

// What each tool shows a job: the engine's settings, and every container's and image's configuration (environments
// included); running Docker containers' live environments too. Each line prints what it looked at, so a probe that
// saw nothing can't pass for one that found nothing.
const toolProbe: Record<ImageTool, string[]> = {
  docker: [
    'docker info 2>&1 | grep -qF "$secret" && echo "LEAK-DOCKER-INFO"',
    'for c in $(docker ps -aq); do docker inspect "$c" | grep -qF "$secret" && echo "LEAK-DOCKER-CONTAINER $c"; done',
    'for c in $(docker ps -q); do docker exec "$c" cat /proc/1/environ 2>/dev/null | grep -qaF "$secret" && echo "LEAK-DOCKER-ENVIRON $c"; done',
    'for i in $(docker images -aq); do docker image inspect "$i" | grep -qF "$secret" && echo "LEAK-DOCKER-IMAGE $i"; done',
    'for v in $(docker volume ls -q); do docker volume inspect "$v" | grep -qF "$secret" && echo "LEAK-DOCKER-VOLUME $v"; done',
    'echo "docker-probe containers=$(docker ps -aq | wc -l) images=$(docker images -aq | wc -l)"',
  ],
  buildah: [
    'buildah info 2>&1 | grep -qF "$secret" && echo "LEAK-BUILDAH-INFO"',
    'for c in $(buildah containers -q); do buildah inspect "$c" | grep -qF "$secret" && echo "LEAK-BUILDAH-CONTAINER $c"; done',
    'for i in $(buildah images -q); do buildah inspect --type image "$i" | grep -qF "$secret" && echo "LEAK-BUILDAH-IMAGE $i"; done',
    'echo "buildah-probe containers=$(buildah containers -q | wc -l) images=$(buildah images -q | wc -l)"',
  ],
};

/**
 * Probe lines any job step can run, wherever it runs: `secret` holds the PAT (only base64-encoded in the script, so
 * finding the script itself does not count as a leak), then whether the environment, a process's environment, a
 * service-account token or the kubelet's API is within reach.
 */
export function credentialProbe(world: Pick<PoolWorld, 'token' | 'kubeletAddress'>): string[] {
  const encoded = Buffer.from(world.token).toString('base64');
  const kubelet = `https://${world.kubeletAddress.includes(':') ? `[${world.kubeletAddress}]` : world.kubeletAddress}:10250/pods`;
  return [
    `secret=$(echo ${encoded} | base64 -d)`,
    'env | grep -qF "$secret" && echo "LEAK-ENV"',
    'for f in /proc/[0-9]*/environ; do grep -qaF "$secret" "$f" 2>/dev/null && echo "LEAK-PROC $f"; done',
    // Any service-account token, wherever a volume could have put it (the recycle sidecar's stays in the sidecar).
    'find -H /var/run /run /var/lib /azp /home /tmp /etc -name token -path "*secrets*" 2>/dev/null | grep -q . && echo "KUBERNETES-TOKEN"',
    // The kubelet's API lists every pod of the node, with their env and volumes: a job must get a refusal (or, where
    // a NetworkPolicy is enforced, no connection at all).
    `code=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 10 ${kubelet})`,
    'case "$code" in 401|403) echo "kubelet=refused-$code" ;; 000) echo "kubelet=unreachable" ;; *) echo "KUBELET-OPEN-$code" ;; esac',
  ];
}

/**
 * A job that reports its pod, looks for what earlier jobs left and for any credential (also through `tool`, when
 * given), tries the kubelet's API, then leaves a marker.
 */
export function probeScript(world: Pick<PoolWorld, 'token' | 'kubeletAddress'>, seconds = 0, tool?: ImageTool): string {
  return [
    'echo "pod-uid=$RUNNER_POD_UID image=$RUNNER_IMAGE"',
    'ls "$AGENT_WORKFOLDER"/marker-* >/dev/null 2>&1 && echo "FOUND-EARLIER-MARKER"',
    'touch "$AGENT_WORKFOLDER/marker-$RUNNER_POD_UID"',
    ...credentialProbe(world),
    'grep -rqaF "$secret" /azp "$HOME" /tmp 2>/dev/null && echo "LEAK-FILE"',
    ...(tool ? toolProbe[tool] : []),
    ...(seconds > 0 ? [`sleep ${seconds}`] : []),
    'echo done-probe',
  ].join('\n');
}

async function queueProbes(world: PoolWorld, pool: string, count: number, seconds = 0): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < count; i++) {
    const job = (await world.emulator.admin.queueJob({ pool, name: `probe-${i}`, script: probeScript(world, seconds) })) as AdminJob;
    ids.push(job.requestId);
  }
  return ids;
}

export async function finished(world: PoolWorld, ids: number[], timeoutMs: number): Promise<Array<{ job: AdminJob; log: string }>> {
  const results = [];
  for (const id of ids) {
    const job = await world.emulator.admin.waitForJob(id, timeoutMs);
    results.push({ job, log: await world.emulator.admin.jobLog(id) });
  }
  return results;
}

/** A `name=value` field a probe printed. */
export const probeField = (log: string, name: string) => new RegExp(`${name}=(\\S+)`).exec(log)?.[1];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

/** Polls a namespace's pods every second until stopped; returns every waiting reason and container restart seen. */
function watchPodTrouble(namespace: string): { stop(): Promise<Set<string>> } {
  const seen = new Set<string>();
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const pods = await kubectlJson<Any>(['get', 'pods', '-n', namespace]);
      for (const pod of pods.items) {
        for (const status of [...(pod.status.containerStatuses ?? []), ...(pod.status.initContainerStatuses ?? [])]) {
          if (status.state?.waiting?.reason) seen.add(status.state.waiting.reason);
          if (status.restartCount > 0) seen.add(`restarted:${pod.metadata.name}/${status.name}`);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  })();
  return {
    async stop() {
      watching = false;
      await watcher;
      return seen;
    },
  };
}

/**
 * The fresh-pod-per-job promise, checked end to end: `count` probe jobs on the pool's slots all succeed, each in a pod
 * no earlier job ran in, none finds an earlier job's marker or any credential, no container backs off or restarts,
 * and the pool holds exactly the registrations of its slots. Returns the UIDs of the pods the jobs ran in.
 */
export async function assertFreshPodPerJob(world: PoolWorld, pool: string, namespace: string, count: number, slots: string[]): Promise<Set<string>> {
  const trouble = watchPodTrouble(namespace);
  const results = await finished(world, await queueProbes(world, pool, count), 10 * 60_000);
  const seen = await trouble.stop();
  for (const { job, log } of results) {
    assert.equal(job.result, 'succeeded', log);
    assert.match(log, /done-probe/);
    assert.doesNotMatch(log, /FOUND-EARLIER-MARKER|LEAK-|KUBERNETES-TOKEN|KUBELET-OPEN/, log);
    assert.match(log, /kubelet=(refused-40[13]|unreachable)/, 'the probe tried the kubelet');
  }
  const uids = results.map(({ log }) => probeField(log, 'pod-uid'));
  assert.ok(uids.every((uid) => uid && uid.length > 10), 'every job knows its pod');
  assert.equal(new Set(uids).size, count, 'every job ran in a new pod');
  assert.ok(![...seen].some((s) => /CrashLoopBackOff|restarted:/.test(s)), `no back-off, no restart: ${[...seen].join(', ')}`);
  const agents = await world.emulator.admin.agents(pool);
  assert.deepEqual(agents.map((a) => a.name).sort(), [...slots].sort());
  return new Set(uids as string[]);
}

/**
 * The update promise, checked end to end: while three long jobs run, `deploy` (DeployRunnerPool with the given image,
 * not waiting for the rollout) kills none of them, they finish on the old image, and the next six jobs run on the new one.
 */
export async function assertRolloutKillsNoJob(world: PoolWorld, pool: string, variantTag: string, deploy: (image: string) => Promise<TaskRun>): Promise<void> {
  const newImage = await imageVariant(world, variantTag, variantTag);
  const running = await queueProbes(world, pool, 3, 25);
  await world.emulator.admin.waitFor(
    async () => Promise.all(running.map((id) => world.emulator.admin.job(id))),
    (jobs) => jobs.every((j) => j.state === 'running' || j.state === 'finished'),
    120_000,
    'the long jobs to start',
  );
  const updated = await deploy(newImage);
  assert.equal(updated.result, 'Succeeded', updated.message);
  for (const { job, log } of await finished(world, running, 180_000)) {
    assert.equal(job.result, 'succeeded', `a running job was not killed: ${log}`);
    assert.equal(probeField(log, 'image'), world.image);
  }
  for (const { job, log } of await finished(world, await queueProbes(world, pool, 6), 300_000)) {
    assert.equal(job.result, 'succeeded', log);
    assert.equal(probeField(log, 'image'), newImage);
  }
}

/**
 * How a job step ends its own agent with no privilege, as the agent's user: each makes the agent container exit
 * (143 after a graceful stop, 137 for a killed listener). A pod must never run another job after any of them.
 */
export const agentKills = {
  'SIGTERM to PID 1 (the start script)': 'kill -TERM 1',
  'SIGKILL to the listener': 'for p in /proc/[0-9]*; do case "$(tr "\\0" " " <"$p/cmdline" 2>/dev/null)" in *Agent.Listener*) kill -KILL "${p#/proc/}" ;; esac; done',
} as const;
export type AgentKill = keyof typeof agentKills;

// What a hostile job leaves for the next job of its pod: a task the agent would take as already downloaded (its
// TaskManager skips a task whose `.completed` marker exists), a settings file, markers in every writable volume.
const plantedPaths = ['"$AGENT_WORKFOLDER/_tasks/Bash_planted/3.0.0.completed"', '"$AGENT_WORKFOLDER/planted"', '/azp/config/.env', '/azp/config/planted', '"$HOME/planted"', '/tmp/planted'];

/**
 * A job that plants files for the next job of its slot and then ends its agent in the given way; the job after it
 * on the same slot must run in a new pod (new UID) and find none of them.
 */
export async function assertKilledAgentLeavesNothing(world: PoolWorld, pool: string, namespace: string, slot: string, kill: AgentKill): Promise<void> {
  const hostile = [
    'mkdir -p "$AGENT_WORKFOLDER/_tasks/Bash_planted/3.0.0"',
    ...plantedPaths.map((path) => `echo planted >${path} 2>/dev/null && echo "wrote ${path.replaceAll('"', '')}" >>/tmp/planted.log`),
    'echo planted-all >>/tmp/planted.log',
    // The test reads /tmp/planted.log in the pod (a job's log reaches the service only as its step goes on), then
    // lets it go on: the agent ends only once every file is in place.
    'until [ -e /tmp/go ]; do sleep 0.2; done',
    agentKills[kill],
    'sleep 120',
  ].join('\n');
  const first = (await world.emulator.admin.queueJob({ pool, name: 'hostile', demands: [`Agent.Name -equals ${slot}`], script: hostile })) as AdminJob;
  await world.emulator.admin.waitFor(() => world.emulator.admin.job(first.requestId), (j) => j.state === 'running', 300_000, `the hostile job on ${slot} to run`);
  const inPod = (...command: string[]) => kubectl(['exec', '-n', namespace, slot, '-c', 'agent', '--', ...command]).catch(() => '');
  const planted = await world.emulator.admin.waitFor(() => inPod('cat', '/tmp/planted.log'), (log) => log.includes('planted-all'), 120_000, `the hostile job on ${slot} to plant its files`);
  assert.equal(planted.match(/^wrote /gm)?.length, plantedPaths.length, `every file was planted: ${planted}`);
  const uid = ((await kubectlJson<Any>(['get', 'pod', slot, '-n', namespace])).metadata.uid) as string;
  await kubectl(['exec', '-n', namespace, slot, '-c', 'agent', '--', 'touch', '/tmp/go']);
  // It ends one way or another: canceled (a graceful stop), or abandoned once the slot's next registration replaces it.
  await world.emulator.admin.waitForJob(first.requestId, 300_000);
  const probe = [
    'echo "pod-uid=$RUNNER_POD_UID"',
    ...plantedPaths.map((path) => `[ ! -e ${path} ] || echo "FOUND-PLANTED ${path.replaceAll('"', '')}"`),
    'echo done-probe',
  ].join('\n');
  const next = (await world.emulator.admin.queueJob({ pool, name: 'after-hostile', demands: [`Agent.Name -equals ${slot}`], script: probe })) as AdminJob;
  const [{ job, log }] = await finished(world, [next.requestId], 300_000);
  assert.equal(job.result, 'succeeded', log);
  assert.match(log, /done-probe/);
  assert.doesNotMatch(log, /FOUND-PLANTED/, `${kill}: the next job found what the hostile one left`);
  const nextUid = probeField(log, 'pod-uid');
  assert.ok(nextUid && nextUid !== uid, `${kill}: the next job ran in pod ${nextUid}, the hostile job's was ${uid}`);
}

/**
 * The service's update message (AgentRefresh, for a version newer than the image's agent) to an idle slot: the agent
 * ignores it (the image sets agent.disableupdate) instead of exiting to update, so the next job runs in that very pod.
 */
export async function assertUpdateMessageIgnored(world: PoolWorld, pool: string, namespace: string, slot: string): Promise<void> {
  const idle = (agents: Record<string, unknown>[]) => agents.find((a) => a.name === slot && a.status === 'online' && a.enabled === true && a.assignedRequest === undefined);
  const agent = idle(await world.emulator.admin.waitFor(() => world.emulator.admin.agents(pool), (agents) => idle(agents) !== undefined, 300_000, `${slot} online and idle`))!;
  const uid = ((await kubectlJson<Any>(['get', 'pod', slot, '-n', namespace])).metadata.uid) as string;
  await world.emulator.admin.sendAgentRefresh(Number(agent.id), '99.0.0');
  const next = (await world.emulator.admin.queueJob({ pool, name: 'after-update-message', demands: [`Agent.Name -equals ${slot}`], script: 'echo "pod-uid=$RUNNER_POD_UID"' })) as AdminJob;
  const [{ job, log }] = await finished(world, [next.requestId], 120_000);
  assert.equal(job.result, 'succeeded', log);
  assert.equal(probeField(log, 'pod-uid'), uid, `${slot}: the agent stayed for its job after the update message`);
}
