// E2E: the in-cluster autoscaler (DeployRunnerPool autoscaling: inCluster) on the real cluster, with the real runner
// image, against the emulator: it follows the queue with no pipeline watching, registers every pod's agent itself (no
// PAT in any runner pod), keeps busy agents through its own restarts and Azure DevOps faults, and owns the count.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cluster, kubectl, kubectlJson, legacyApiServer, waitFor } from '../support/cluster.js';
import { run } from '../support/process.js';
import { unpackAgent } from '../support/agent-package.js';
import { createNamespace, deleteNamespace, deployPool, imageVariant, poolPatOwner, readSnapshot, startPoolWorld, type PoolWorld } from '../support/runner-pool.js';
import { assertKilledAgentLeavesNothing, finished, probeField, probeScript } from '../support/pool-jobs.js';
import { kubernetesConnectionId, runBundledTask } from '../support/run-task.js';
import { MemoryHost } from '../support/memory-host.js';
import { HttpKubeClient, loadUserKubeConfig } from '../../src/clients/kube-http.js';
import { RestAdoClient } from '../../src/clients/ado-rest.js';
import { systemClock } from '../../src/clients/system-clock.js';
import { InputReader, readRemoveOptions, readStatusOptions } from '../../src/core/index.js';
import { removeRunnerPool } from '../../src/flows/remove-pool.js';
import { readPoolStatus } from '../../src/flows/pool-status.js';
import { statusTable } from '../../cli/status-table.js';

const POOL = 'Autoscaled';
const NS = 'adr-autoscaler-e2e';
/** A second runner of the pool, with default names: standing in for a second cluster. */
const SECOND_NS = 'adr-autoscaler-e2e-second';
/** Where the attacker of the handshake runs: any other namespace of the cluster. */
const ATTACKER_NS = 'adr-autoscaler-e2e-attacker';
let world: PoolWorld;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

const autoscaled = (inputs: Record<string, string> = {}) =>
  deployPool(world, {
    namespace: NS, poolName: POOL, runnerName: 'auto', autoscaling: 'inCluster', minReplicas: '0', maxReplicas: '20', standby: '0',
    pollSeconds: '2', rolloutStatusTimeout: '180', ...inputs,
  });

let legacyKubeconfig: string;
let kubectlPath: string;

const replicas = async () => (await kubectlJson<Any>(['get', 'statefulset', 'auto', '-n', NS])).spec.replicas as number;
/** The autoscaler's pod: one not being deleted (after a kill or a scale-down the old one lingers a while), else any. */
const autoscalerPod = async () => {
  const pods: Any[] = (await kubectlJson<Any>(['get', 'pods', '-n', NS, '-l', 'app.kubernetes.io/name=azure-devops-runner-autoscaler'])).items;
  return pods.find((pod) => pod.metadata.deletionTimestamp === undefined) ?? pods[0];
};
const autoscalerLog = () => kubectl(['logs', '-n', NS, 'deployment/auto-autoscaler', '--tail=-1']);

/** Kills the autoscaler's pod outright (no grace period), as a node failure or an OOM kill would. */
async function killAutoscaler(): Promise<void> {
  const pod = await autoscalerPod();
  if (pod) await kubectl(['delete', 'pod', '-n', NS, pod.metadata.name, '--grace-period=0', '--force', '--wait=false']);
}

/** A figure from the autoscaler's /metrics (0 when it has none yet). */
async function metric(name: string): Promise<number> {
  const pod = await waitFor('an autoscaler with an address', 120_000, async () => (await autoscalerPod())?.status.podIP ? autoscalerPod() : undefined);
  const text = await (await fetch(`http://${pod.status.podIP}:9090/metrics`)).text();
  return Number(new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[2] ?? 0);
}

/** Waits until the running autoscaler has finished `count` more passes: what it decides from a change, it has decided. */
async function passesLater(count: number): Promise<void> {
  const passes = () => metric('azure_devops_runner_pass_duration_seconds_count');
  const from = await passes();
  await waitFor(`${count} more passes of the autoscaler`, 120_000, async () => ((await passes()) >= from + count ? true : undefined));
}

/** Restarts the API server pods talk to (the kubernetes Service's address), as a crash would: killed, then started. */
async function restartPodsApiServer(): Promise<void> {
  const pid = Number(readFileSync('/var/lib/adr-cluster/pids/legacy-apiserver', 'utf8').trim());
  process.kill(pid, 'SIGKILL');
  await waitFor('the old API server to exit', 90_000, async () => {
    try {
      process.kill(pid, 0);
      return undefined;
    } catch {
      return true;
    }
  });
  await new Promise((resolve) => setTimeout(resolve, 3000));
  await legacyApiServer();
}

const kubectlRun = (args: string[]) => run(kubectlPath, args).then((r) => r.stdout);

async function queue(count: number, script: string, demands?: string[]): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < count; i++) {
    const job = await world.emulator.admin.queueJob({ pool: POOL, name: `auto-${i}`, script, demands });
    assert.ok(!('rejected' in job), `job queued: ${JSON.stringify(job)}`);
    ids.push(job.requestId);
  }
  return ids;
}

/** A job step that copies its agent's key files into its log, as a job could copy them anywhere. */
const stealKeyFiles = 'for f in .agent .credentials .credentials_rsaparams; do echo "STOLEN $f $(base64 -w0 "/azp/agent/$f")"; done';

/** The files a job stole (stealKeyFiles), and the registration they belong to. */
function stolenFiles(log: string): { files: Record<string, string>; agentId: number; agentName: string } {
  const files = Object.fromEntries([...log.matchAll(/STOLEN (\S+) (\S+)/g)].map(([, name, content]) => [name, Buffer.from(content, 'base64').toString()]));
  assert.deepEqual(Object.keys(files).sort(), ['.agent', '.credentials', '.credentials_rsaparams'], 'the job read its agent\'s files');
  const { agentId, agentName } = JSON.parse(files['.agent']) as { agentId: number; agentName: string };
  return { files, agentId, agentName };
}

/** A rogue agent elsewhere, started from the stolen files while a job waits for that very slot, gets nowhere; the job runs on the slot's new registration. */
async function assertStolenKeyRefused({ files, agentId, agentName }: ReturnType<typeof stolenFiles>): Promise<void> {
  const rogue = await unpackAgent('rogue-');
  try {
    for (const [name, content] of Object.entries(files)) writeFileSync(join(rogue, name), content, { mode: 0o600 });
    const waiting = await queue(1, 'echo taken', [`Agent.Name -equals ${agentName}`]);
    const rogueRun = await run(join(rogue, 'run.sh'), ['--once'], { env: { ...process.env, AGENT_ALLOW_RUNASROOT: '1' }, timeoutMs: 60_000 });
    assert.notEqual(rogueRun.code, 0, `the rogue agent got nowhere: ${rogueRun.stdout}${rogueRun.stderr}`);
    assert.match(rogueRun.stdout + rogueRun.stderr, /OAuthTokenRequest|Unauthorized|AgentNotFound|invalid_client/i, 'refused its token or its agent');
    assert.doesNotMatch(rogueRun.stdout + rogueRun.stderr, /taken|Running job/, 'and no job');
    const [{ job: next, log: nextLog }] = await finished(world, waiting, 240_000);
    assert.equal(next.result, 'succeeded', nextLog);
    assert.notEqual(next.agentId, agentId, 'the waiting job ran on the slot\'s new registration');
  } finally {
    rmSync(rogue, { recursive: true, force: true });
  }
}

const authorization = () => ({ authorization: `Basic ${Buffer.from(`:${world.token}`).toString('base64')}` });

describe('the in-cluster autoscaler on a real cluster', { timeout: 30 * 60_000 }, () => {
  before(async () => {
    // Pods reach the API server as the kubernetes Service (10.96.0.1): the local cluster's second, RBAC-enforcing one.
    legacyKubeconfig = await legacyApiServer();
    kubectlPath = (await cluster()).kubectlPath;
    world = await startPoolWorld(POOL, 'autoscaler-e2e');
    await createNamespace(NS);
  });

  after(async () => {
    // Kept for a failure's post-mortem: the autoscaler's log with times, and the namespace's events.
    const postMortem = join(tmpdir(), 'adr-autoscaler-e2e.log');
    const logs = await kubectl(['logs', '-n', NS, 'deployment/auto-autoscaler', '--timestamps', '--tail=-1']).catch((error: Error) => error.message);
    const events = await kubectl(['get', 'events', '-n', NS, '--sort-by=.lastTimestamp']).catch((error: Error) => error.message);
    writeFileSync(postMortem, `${logs}\n\n${events}`);
    console.log(`the autoscaler's log and the namespace's events: ${postMortem}`);
    await deleteNamespace(NS);
    await deleteNamespace(ATTACKER_NS);
    await deleteNamespace(SECOND_NS);
    await world?.stop();
  });

  it('deploys a new pool at zero whose jobs are accepted, and runs them', async () => {
    const deployed = await autoscaled();
    assert.equal(deployed.result, 'Succeeded', deployed.message);
    assert.match(deployed.stdout, /The autoscaler auto-autoscaler runs/);
    // A pool with no registration rejects every job: the autoscaler starts slot 0 once so that it registers.
    await world.emulator.admin.waitFor(() => world.emulator.admin.agents(POOL), (agents) => agents.some((a) => a.name === 'auto-0'), 90_000, 'auto-0 registered');
    await waitFor('the pool back at zero', 120_000, async () => ((await replicas()) === 0 ? true : undefined));
    const [id] = await queue(1, probeScript(world));
    const [{ job, log }] = await finished(world, [id], 180_000);
    assert.equal(job.result, 'succeeded', log);
    assert.doesNotMatch(log, /LEAK-|KUBERNETES-TOKEN|KUBELET-OPEN/, 'no PAT, no Kubernetes token and no open kubelet within a job\'s reach');
  });

  it('gives a pod in another namespace nothing from a starting runner pod, and no way to register it', async () => {
    // The local cluster enforces no NetworkPolicy, so the attacker reaches port 8081: this proves the cryptography.
    await waitFor('the pool back at zero', 120_000, async () => ((await replicas()) === 0 ? true : undefined));
    // Without its autoscaler a starting pod waits for its grant as long as the attack takes.
    await kubectl(['scale', 'deployment', 'auto-autoscaler', '-n', NS, '--replicas=0']);
    try {
      await waitFor('no autoscaler', 120_000, async () => ((await autoscalerPod()) ? undefined : true));
      await createNamespace(ATTACKER_NS);
      const attacker = {
        apiVersion: 'v1', kind: 'Pod', metadata: { name: 'attacker', namespace: ATTACKER_NS },
        spec: {
          automountServiceAccountToken: false,
          containers: [{ name: 'attacker', image: world.image, command: ['sleep', 'infinity'], securityContext: { runAsNonRoot: true, runAsUser: 10001, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
        },
      };
      await kubectl(['apply', '-f', '-'], { input: JSON.stringify(attacker) });
      await kubectl(['scale', 'statefulset', 'auto', '-n', NS, '--replicas=1']);
      await kubectl(['wait', '-n', ATTACKER_NS, 'pod/attacker', '--for=condition=Ready', '--timeout=180s'], { timeoutMs: 190_000 });
      // Its pods are created behind the slot-wanted scheduling gate: lifted here as the autoscaler's pass does for a slot
      // it wants running.
      await waitFor('a new auto-0', 180_000, async () => {
        const found = await kubectlJson<Any>(['get', 'pod', 'auto-0', '-n', NS]).catch(() => undefined);
        return found && found.metadata.deletionTimestamp === undefined ? true : undefined;
      });
      await kubectl(['patch', 'pod', 'auto-0', '-n', NS, '--type=merge', '-p', JSON.stringify({ spec: { schedulingGates: [] } })]);
      // The pod the scale-down ended may linger a while with its address: the attack is on the pod starting now.
      const pod = await waitFor('a new auto-0 with an address', 180_000, async () => {
        const found = await kubectlJson<Any>(['get', 'pod', 'auto-0', '-n', NS]).catch(() => undefined);
        return found?.status?.podIP && found.metadata.deletionTimestamp === undefined ? found : undefined;
      });
      const url = `http://${pod.status.podIP}:8081/v1/registration`;
      const fromAttacker = (script: string) => kubectl(['exec', '-n', ATTACKER_NS, 'attacker', '--', 'bash', '-c', script]);
      const served = await waitFor('auto-0 serving its request', 180_000, async () => (await fromAttacker(`curl -sf --max-time 5 ${url} || true`)).trim() || undefined);
      for (const clear of [POOL, 'AZP_', 'RUNNER_', 'auto-0', pod.metadata.uid, world.emulator.orgUrl]) assert.ok(!served.includes(clear), `${clear} in clear`);
      assert.deepEqual(Object.keys(JSON.parse(served)).sort(), ['data', 'iv', 'key', 'version']);
      // The grant that stopped the pool before: every name the pod checks, and a token URL of the attacker's.
      const grant = {
        agentId: 1, agentName: 'auto-0', poolId: 1, poolName: POOL, serverUrl: world.emulator.orgUrl, clientId: 'forged',
        authorizationUrl: 'http://attacker.invalid/token', oauthEndpointUrl: 'http://attacker.invalid/token',
      };
      for (const body of [grant, { grant, signature: 'A'.repeat(86) }]) {
        const post = `curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST -H 'content-type: application/json' --data '${JSON.stringify(body)}' ${url}`;
        assert.equal((await fromAttacker(post)).trim(), '422');
      }
      // It keeps waiting, unharmed: the same container, the same request.
      assert.equal((await fromAttacker(`curl -sf --max-time 5 ${url}`)).trim(), served);
      const agent = (await kubectlJson<Any>(['get', 'pod', 'auto-0', '-n', NS])).status.containerStatuses.find((c: Any) => c.name === 'agent');
      assert.equal(agent.restartCount, 0);
      // The autoscaler back: the very pod that was attacked registers and runs the next job.
      const [id] = await queue(1, probeScript(world));
      await kubectl(['scale', 'deployment', 'auto-autoscaler', '-n', NS, '--replicas=1']);
      const [{ job, log }] = await finished(world, [id], 180_000);
      assert.equal(job.result, 'succeeded', log);
      assert.equal(probeField(log, 'pod-uid'), pod.metadata.uid);
    } finally {
      await kubectl(['scale', 'deployment', 'auto-autoscaler', '-n', NS, '--replicas=1']);
      await deleteNamespace(ATTACKER_NS);
    }
  });

  it('runs 20 jobs queued at zero, each in a fresh pod, and returns to zero', async () => {
    await waitFor('the pool back at zero', 120_000, async () => ((await replicas()) === 0 ? true : undefined));
    const since = (await world.emulator.admin.requests()).at(-1)?.seq ?? 0;
    // Each job lasts 20 s: in a burst the look a notice brings waits for the registrations under way (up to 14 s here).
    const ids = await queue(20, `${probeScript(world)}\nsleep 20`);
    const results = await finished(world, ids, 10 * 60_000);
    for (const { job, log } of results) assert.equal(job.result, 'succeeded', log);
    const uids = new Set(results.map(({ log }) => probeField(log, 'pod-uid')));
    assert.equal(uids.size, 20, 'every job ran in its own pod');
    await waitFor('the pool back at zero', 180_000, async () => ((await replicas()) === 0 ? true : undefined));
    const log = await autoscalerLog();
    assert.match(log, /scale up from 0 to \d+/);
    assert.match(log, /Registered the agent of auto-\d+/);
    // Each pod told the autoscaler when its agent took the job, and each registration was disabled while its job ran.
    assert.match(log, /Agent \d+'s pod says it took a job: looking now\./);
    // (The handshake's enabling PATCH comes before the job is assigned: any PATCH after it disables.)
    const served = await world.emulator.admin.requests(since);
    const late: string[] = [];
    const delays: number[] = [];
    for (const { job } of results) {
      const disabled = served.find((request) => request.method === 'PATCH' && request.path.endsWith(`/agents/${job.agentId}`) && request.status === 200
        && request.time >= job.assignTime!)?.time;
      if (disabled !== undefined) delays.push(Date.parse(disabled) - Date.parse(job.assignTime!));
      if (disabled === undefined || disabled > job.finishTime!) {
        const calls = served.filter((request) => request.path.endsWith(`/agents/${job.agentId}`)).map((request) => `${request.time} ${request.method} ${request.status}`);
        late.push(`job ${job.requestId} on agent ${job.agentId}: assigned ${job.assignTime}, finished ${job.finishTime}, disabled ${disabled ?? 'never'}; its calls: ${calls.join(', ')}`);
      }
    }
    console.log(`assigned → disabled, ms: ${delays.sort((a, b) => a - b).join(' ')}`);
    assert.deepEqual(late, [], `each registration disabled while its job ran\n${log}`);
  });

  it('runs no later job in the pod of a job that ended its agent', async () => {
    await assertKilledAgentLeavesNothing(world, POOL, NS, 'auto-0', 'SIGTERM to PID 1 (the start script)');
  });

  it('leaves a job that copied its agent\'s key files nothing to use once its pod is gone', async () => {
    await waitFor('the pool back at zero', 180_000, async () => ((await replicas()) === 0 ? true : undefined));
    const [id] = await queue(1, `${stealKeyFiles}\necho done-steal`);
    const [{ job, log }] = await finished(world, [id], 180_000);
    assert.equal(job.result, 'succeeded', log);
    const stolen = stolenFiles(log);
    // Its pod is gone: the autoscaler retires the registration (a new agent id under the slot's name).
    await world.emulator.admin.waitFor(() => world.emulator.admin.agents(POOL), (agents) => agents.some((a) => a.name === stolen.agentName && a.id !== stolen.agentId), 120_000, `${stolen.agentName} retired`);
    await assertStolenKeyRefused(stolen);
  });

  it('leaves a job that copied its agent\'s key files and kept its container running nothing to use', async () => {
    await waitFor('the pool back at zero', 180_000, async () => ((await replicas()) === 0 ? true : undefined));
    // The job stops the start script (the init, PID 1, ignores SIGSTOP; start.sh does not): its agent exits after the
    // job, its container does not.
    const keepRunning = [
      'echo "POD-UID $RUNNER_POD_UID"',
      'for p in /proc/[0-9]*; do [ "${p#/proc/}" = 1 ] && continue; case "$(tr "\\0" " " <"$p/cmdline" 2>/dev/null)" in *start.sh*) kill -STOP "${p#/proc/}" ;; esac; done',
      'sleep 1',
      'n=0; for p in /proc/[0-9]*; do case "$(tr "\\0" " " <"$p/cmdline" 2>/dev/null)" in *start.sh*) grep -q "^State:.*stopped" "$p/status" 2>/dev/null && n=$((n + 1)) ;; esac; done',
      'echo "STOPPED $n"',
    ].join('\n');
    const [id] = await queue(1, `${stealKeyFiles}\n${keepRunning}`);
    const [{ job, log }] = await finished(world, [id], 180_000);
    const finishedAt = Date.now();
    assert.equal(job.result, 'succeeded', log);
    const stopped = Number(/STOPPED (\d+)/.exec(log)?.[1] ?? 0);
    assert.ok(stopped >= 1, `the job stopped its start script: ${log}`);
    const podUid = /POD-UID (\S+)/.exec(log)?.[1];
    const stolen = stolenFiles(log);
    const slotPodUid = async () => (await kubectlJson<Any>(['get', 'pods', '-n', NS])).items.find((pod: Any) => pod.metadata.name === stolen.agentName)?.metadata.uid as string | undefined;
    let podGoneAt: number | undefined;
    const podGone = waitFor('the pod that outlived its job gone', 120_000, async () => ((await slotPodUid()) !== podUid ? (podGoneAt = Date.now()) : undefined))
      .then(() => undefined, (error: Error) => error);
    // Retired while that pod is still there: the rule rests on the service's record of the job, not on the pod's end.
    await world.emulator.admin.waitFor(() => world.emulator.admin.agents(POOL), (agents) => agents.some((a) => a.name === stolen.agentName && a.id !== stolen.agentId), 60_000, `${stolen.agentName} retired`);
    const retiredAt = Date.now();
    const gone = await podGone;
    const after = (at: number | undefined) => (at === undefined ? 'never' : `${((at - finishedAt) / 1000).toFixed(1)} s`);
    console.log(`kept-running: ${stopped} start script(s) stopped; retired ${after(retiredAt)} after the job, its pod gone ${after(podGoneAt)} after it`);
    // Ended by the autoscaler it goes within its 5 s grace; later means the rule did not end it (the log says why).
    if (gone !== undefined || podGoneAt! - finishedAt > 20_000) console.log(await autoscalerLog());
    assert.ok(podGoneAt === undefined || podGoneAt > retiredAt, 'the registration was retired while the pod that outlived its job was still there');
    assert.equal(gone, undefined, 'the pod that outlived its job is gone within 120 s');
    await assertStolenKeyRefused(stolen);
  });

  it('does not count jobs demanding what the pool lacks', async () => {
    await waitFor('the pool back at zero', 120_000, async () => ((await replicas()) === 0 ? true : undefined));
    // An agent of the pool that is not ours offers a GPU: a job demanding one is accepted and waits, for that agent.
    const pools = (await (await fetch(`${world.emulator.orgUrl}/_apis/distributedtask/pools?poolName=${POOL}`, { headers: authorization() })).json());
    const added = await fetch(`${world.emulator.orgUrl}/_apis/distributedtask/pools/${pools.value[0].id}/agents?api-version=7.1`, {
      method: 'POST',
      headers: { ...authorization(), 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'manual-gpu', authorization: { publicKey: { exponent: 'AQAB', modulus: 'A'.repeat(344) } }, systemCapabilities: { gpu: 'yes' } }),
    });
    assert.equal(added.status, 200);
    const [gpuJob] = await queue(1, 'true', ['gpu']);
    // Two whole passes after the job was queued: the first may have read the queue before it.
    await passesLater(2);
    assert.equal(await replicas(), 0, 'no slot for a job only another agent can take');
    assert.match(await autoscalerLog(), /0 busy \+ 0 queued/);
    await world.emulator.admin.cancelJob(gpuJob);
  });

  it('owns the count: DeployRunnerPool with a new image leaves it, ScaleRunnerPool refuses the pool', async () => {
    // Long enough that all four run at once even when a loaded machine starts the fourth pod 40 s after the others.
    const ids = await queue(4, `${probeScript(world)}\nsleep 120`);
    await world.emulator.admin.waitFor(async () => Promise.all(ids.map((id) => world.emulator.admin.job(id))), (jobs) => jobs.every((j) => j.state === 'running'), 180_000, 'four jobs running');
    const before = await replicas();
    assert.ok(before >= 4);
    const image = await imageVariant(world, 'autoscaler-e2e-v2', 'v2');
    const redeployed = await autoscaled({ image });
    assert.equal(redeployed.result, 'Succeeded', redeployed.message);
    assert.equal(await replicas(), before, 'the count is still the autoscaler\'s');
    const scaled = await runBundledTask('ScaleRunnerPool', {
      kubernetesServiceConnection: kubernetesConnectionId, namespace: NS, runnerName: 'auto', poolName: POOL, azureDevOpsUrl: world.emulator.orgUrl,
      personalAccessToken: world.token, mode: 'fixed', replicas: '0',
    }, world.endpointEnv);
    assert.equal(scaled.result, 'Failed');
    assert.match(scaled.message ?? '', /the in-cluster autoscaler scales 'auto'/);
    for (const { job, log } of await finished(world, ids, 300_000)) assert.equal(job.result, 'succeeded', `no job killed: ${log}`);
  });

  it('stops within two seconds on SIGTERM and resumes where it was', async () => {
    const pod = await autoscalerPod();
    const started = Date.now();
    await kubectl(['delete', 'pod', '-n', NS, pod.metadata.name, '--wait=true'], { timeoutMs: 60_000 });
    const stopped = (Date.now() - started) / 1000;
    // kubectl's own round trips and the kubelet's teardown come on top of the process's exit.
    assert.ok(stopped < 8, `deleted within ${stopped} s`);
    await waitFor('a new autoscaler', 120_000, async () => {
      const next = await autoscalerPod();
      return next && next.metadata.uid !== pod.metadata.uid && next.status.containerStatuses?.[0]?.ready ? true : undefined;
    });
  });

  it('killed in the middle of a burst and of a scale-down, kills no busy job and converges', async () => {
    await waitFor('the pool back at zero', 180_000, async () => ((await replicas()) === 0 ? true : undefined));
    const long = await queue(4, `${probeScript(world)}\nsleep 45`);
    const short = await queue(6, 'sleep 3');
    await waitFor('the burst under way', 120_000, async () => ((await replicas()) >= 4 ? true : undefined));
    await killAutoscaler();
    for (const { job, log } of await finished(world, short, 300_000)) assert.equal(job.result, 'succeeded', log);
    // The short jobs are done, the long ones run: scale-downs (drains) happen now. Kill it again and again meanwhile.
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 6000));
      await killAutoscaler();
    }
    for (const { job, log } of await finished(world, long, 300_000)) assert.equal(job.result, 'succeeded', `no busy job killed: ${log}`);
    await waitFor('the pool back at zero', 240_000, async () => ((await replicas()) === 0 ? true : undefined));
  });

  it('with two autoscalers for one runner, one acts at a time, takes over from a killed one and kills no busy job over 50 jobs', async () => {
    await waitFor('the pool back at zero', 180_000, async () => ((await replicas()) === 0 ? true : undefined));
    const pods = async (): Promise<Any[]> => (await kubectlJson<Any>(['get', 'pods', '-n', NS, '-l', 'app.kubernetes.io/name=azure-devops-runner-autoscaler'])).items;
    const ready = (pod: Any) => pod.metadata.deletionTimestamp === undefined && pod.status.containerStatuses?.[0]?.ready === true;
    const leaderGauges = async (): Promise<Map<string, number>> => {
      const gauges = new Map<string, number>();
      for (const pod of (await pods()).filter(ready)) {
        const text = await fetch(`http://${pod.status.podIP}:9090/metrics`, { signal: AbortSignal.timeout(3000) }).then((answer) => answer.text()).catch(() => '');
        const leading = /^azure_devops_runner_leader(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1];
        if (leading !== undefined) gauges.set(pod.metadata.name as string, Number(leading));
      }
      return gauges;
    };
    await kubectl(['scale', 'deployment', 'auto-autoscaler', '-n', NS, '--replicas=2']);
    let sampling = true;
    const leadersSeen: string[][] = [];
    let ids: number[] = [];
    try {
      await waitFor('two ready autoscalers', 180_000, async () => ((await pods()).filter(ready).length === 2 ? true : undefined));
      // Sampled the whole time: never two autoscalers acting at once.
      const sampler = (async () => {
        while (sampling) {
          leadersSeen.push([...(await leaderGauges().catch(() => new Map<string, number>()))].filter(([, leading]) => leading === 1).map(([name]) => name));
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
      })();
      ids = await queue(50, `${probeScript(world)}\nsleep 3`);
      await waitFor('ten jobs done', 300_000, async () => {
        const jobs = await Promise.all(ids.map((id) => world.emulator.admin.job(id)));
        return jobs.filter((job) => job.state === 'finished').length >= 10 ? true : undefined;
      });
      // The leader dies without giving its lease up; the other takes over once the lease runs out.
      const leader = [...leadersSeen].reverse().find((names) => names.length === 1)?.[0];
      assert.ok(leader, 'one autoscaler led');
      await kubectl(['delete', 'pod', '-n', NS, leader, '--grace-period=0', '--force', '--wait=false']);
      const results = await finished(world, ids, 15 * 60_000);
      for (const { job, log } of results) assert.equal(job.result, 'succeeded', `no busy job killed: ${log}`);
      assert.equal(new Set(results.map(({ log }) => probeField(log, 'pod-uid'))).size, 50, 'every job ran in its own pod');
      sampling = false;
      await sampler;
      assert.ok(leadersSeen.every((names) => names.length <= 1), `one leader at a time: ${JSON.stringify(leadersSeen.filter((names) => names.length > 1))}`);
      // Asked until it answers: under load a sample can miss a gauge (its fetch timed out), so no sample is proof it was not there.
      await waitFor('another autoscaler leading', 120_000, async () => ([...(await leaderGauges())].some(([name, leading]) => name !== leader && leading === 1) ? true : undefined));
    } finally {
      sampling = false;
      await kubectl(['scale', 'deployment', 'auto-autoscaler', '-n', NS, '--replicas=1']);
      // After a failure too: the later tests start from an idle pool and one autoscaler.
      for (const id of ids) await world.emulator.admin.cancelJob(id);
      await waitFor('one autoscaler', 180_000, async () => ((await pods()).length === 1 && ready((await pods())[0]) ? true : undefined));
    }
    await waitFor('the pool back at zero', 240_000, async () => ((await replicas()) === 0 ? true : undefined));
  });

  it('rides out Azure DevOps faults (5xx, 429 with Retry-After, dropped answers) and an API-server restart', async () => {
    await waitFor('the pool back at zero', 180_000, async () => ((await replicas()) === 0 ? true : undefined));
    const before = await metric('azure_devops_runner_ado_throttled_seconds');
    await world.emulator.admin.addFault({ path: 'jobrequests$', kind: 'error', status: 503, count: 4 });
    await world.emulator.admin.addFault({ path: 'agents$', kind: 'rateLimit', retryAfterSeconds: 2, count: 3 });
    await world.emulator.admin.addFault({ path: 'jobrequests$', kind: 'drop', count: 3 });
    const ids = await queue(6, 'sleep 5');
    await restartPodsApiServer();
    for (const { job, log } of await finished(world, ids, 300_000)) assert.equal(job.result, 'succeeded', log);
    await world.emulator.admin.clearFaults();
    assert.ok((await metric('azure_devops_runner_ado_throttled_seconds')) > before, 'its metrics show the throttling');
    assert.match(await autoscalerLog(), /This pass failed/);
    await waitFor('the pool back at zero', 240_000, async () => ((await replicas()) === 0 ? true : undefined));
  });

  it('may set its scale, label and end the pool\'s pods, and nothing more', async () => {
    const as = ['--as', `system:serviceaccount:${NS}:auto-autoscaler`, '--kubeconfig', legacyKubeconfig, '-n', NS];
    const can = async (...args: string[]) => (await kubectlRun(['auth', 'can-i', ...args, ...as])).trim();
    assert.equal(await can('patch', 'statefulsets/auto', '--subresource=scale'), 'yes');
    assert.equal(await can('patch', 'pods/auto-3'), 'yes');
    assert.equal(await can('delete', 'pods/auto-0'), 'yes');
    assert.equal(await can('list', 'pods'), 'yes');
    assert.equal(await can('create', 'events'), 'yes');
    for (const denied of [['patch', 'statefulsets/auto'], ['get', 'secrets'], ['get', 'secrets/auto-registration'], ['delete', 'pods/other-0'], ['delete', 'pods'], ['create', 'pods'], ['patch', 'pods/other-0'], ['patch', 'deployments/auto-autoscaler']]) {
      assert.equal(await can(...denied), 'no', denied.join(' '));
    }
  });

  it('takes a rotated PAT from its Secret without a restart', async () => {
    const rotated = `pat-rotated-${Date.now()}`;
    await world.emulator.admin.addPat({ token: rotated, user: 'rotated@e2e.example', scopes: poolPatOwner.scopes });
    const pod = await autoscalerPod();
    try {
      await kubectl(['patch', 'secret', 'auto-registration', '-n', NS, '--type=merge', '-p', JSON.stringify({ stringData: { token: rotated } })]);
      await world.emulator.admin.revokePat(world.token);
      const since = Math.max(0, ...(await world.emulator.admin.requests()).map((r) => r.seq));
      // The kubelet refreshes a Secret volume at the pod's next sync: a minute by default (10 s on the test cluster).
      await waitFor('a call with the rotated PAT', 240_000, async () =>
        (await world.emulator.admin.requests(since)).some((r) => r.principal === 'pat:rotated@e2e.example' && r.status === 200) ? true : undefined);
      assert.equal((await autoscalerPod()).metadata.uid, pod.metadata.uid, 'the same pod');
    } finally {
      await world.emulator.admin.addPat({ token: world.token, ...poolPatOwner });
      await kubectl(['patch', 'secret', 'auto-registration', '-n', NS, '--type=merge', '-p', JSON.stringify({ stringData: { token: world.token } })]);
    }
  });

  it('says within one interval that a slot cannot start for its image (decision, status, snapshot, event, metric) and does not grow for it', async () => {
    await waitFor('the pool back at zero', 180_000, async () => ((await replicas()) === 0 ? true : undefined));
    // The runner pods' template names an image no registry serves (.invalid never resolves); the autoscaler keeps its own.
    const agentImage = (image: string) => kubectl(['patch', 'statefulset', 'auto', '-n', NS, '-p', JSON.stringify({ spec: { template: { spec: { containers: [{ name: 'agent', image }] } } } })]);
    const stuckLine = /slot 0 cannot start: (ErrImagePull|ImagePullBackOff) \(/;
    const ids: number[] = [];
    try {
      await agentImage('registry.invalid/azp-runner:missing');
      ids.push(...await queue(1, 'true'));
      const failing = await waitFor('slot 0 failing to pull its image', 120_000, async () => {
        const pod = await kubectlJson<Any>(['get', 'pod', 'auto-0', '-n', NS]).catch(() => undefined);
        const waiting = pod?.status?.containerStatuses?.find((c: Any) => c.name === 'agent')?.state?.waiting?.reason;
        return /^(ErrImagePull|ImagePullBackOff)$/.test(waiting ?? '') ? Date.now() : undefined;
      });
      const decided = await waitFor('the decision to say so', 30_000, async () => (stuckLine.test(await autoscalerLog()) ? Date.now() : undefined));
      const published = await waitFor('the snapshot to say so', 30_000, async () => ((await readSnapshot(world, `${NS}.auto`))?.stuckSlots?.[0]?.reason === 'imagePull' ? Date.now() : undefined));
      // A figure, not a bound: one interval (pollSeconds 2) and its pass on an idle machine; the waits above bound it.
      console.log(`slot 0 failing → decision ${decided - failing} ms, snapshot ${published - failing} ms`);
      const kube = new HttpKubeClient(loadUserKubeConfig({ path: (await cluster()).kubeconfig }));
      const ado = new RestAdoClient({ organizationUrl: world.emulator.orgUrl, token: world.token, sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)), log: () => {} });
      const options = readStatusOptions(new InputReader(new MemoryHost({ namespace: NS, poolName: POOL, runnerName: 'auto', azureDevOpsUrl: world.emulator.orgUrl, personalAccessToken: world.token })));
      const status = statusTable(await readPoolStatus(options, { ado, connect: async () => kube, clock: systemClock, log: new MemoryHost() }), new Date());
      assert.match(status, /\nSlots that cannot start:\n {2}slot 0 cannot start: (ErrImagePull|ImagePullBackOff) \(.*registry\.invalid/);
      assert.match(status, /Waiting jobs this runner counts, waiting on them: .+ \(#\d+\)/);
      // More jobs: the pool stays at the one slot that cannot start.
      ids.push(...await queue(2, 'true'));
      await passesLater(3);
      assert.equal(await replicas(), 1);
      assert.match(await autoscalerLog(), /scale-up to 3 held at 1: a new slot would not start either/);
      const metrics = await (await fetch(`http://${(await autoscalerPod()).status.podIP}:9090/metrics`)).text();
      assert.match(metrics, /^azure_devops_runner_slot_start_failures\{reason="imagePull"[^}]*runner="auto"[^}]*\} 1$/m);
      const told = await kubectlJson<Any>(['get', 'events', '-n', NS, '--field-selector', 'reason=SlotCannotStart,involvedObject.name=auto']);
      assert.equal(told.items.length, 1, 'one Event for the cause, not one a pass');
      assert.match(told.items[0].message, /^1 slot cannot start, jobs wait: slot 0 cannot start: /);
    } finally {
      for (const id of ids) await world.emulator.admin.cancelJob(id);
      await agentImage(world.image);
      await waitFor('the pool back at zero', 120_000, async () => ((await replicas()) === 0 ? true : undefined));
    }
  });

  it('exposes its metrics and health', async () => {
    const pod = await autoscalerPod();
    const metrics = await (await fetch(`http://${pod.status.podIP}:9090/metrics`)).text();
    assert.match(metrics, /azure_devops_runner_desired_replicas\{[^}]*pool="Autoscaled"[^}]*\} \d+/);
    assert.match(metrics, /azure_devops_runner_ado_calls\{[^}]*\} \d+/);
    const health = await fetch(`http://${pod.status.podIP}:9090/healthz`);
    assert.equal(health.status, 200);
  });

  it('shares its pool with a second namespace\'s runner of default name: every job runs, neither touches the other\'s agents, remove leaves it whole', async () => {
    // The second namespace stands in for a second cluster: its runner has an identity of its own (docs/several-clusters.md).
    await waitFor('the pool back at zero', 180_000, async () => ((await replicas()) === 0 ? true : undefined));
    // A PAT of its own for the second runner: every write to an agent is traced to the runner that sent it.
    const secondPat = `pat-second-${Date.now()}`;
    await world.emulator.admin.addPat({ token: secondPat, user: 'second@e2e.example', scopes: poolPatOwner.scopes });
    const since = Math.max(0, ...(await world.emulator.admin.requests()).map((r) => r.seq));
    await createNamespace(SECOND_NS);
    try {
      const deployed = await deployPool(world, {
        namespace: SECOND_NS, poolName: POOL, personalAccessToken: secondPat, autoscaling: 'inCluster', minReplicas: '0', maxReplicas: '2', standby: '0',
        pollSeconds: '2', rolloutStatusTimeout: '180',
      });
      assert.equal(deployed.result, 'Succeeded', deployed.message);
      const second = (await kubectlJson<Any>(['get', 'statefulsets', '-n', SECOND_NS])).items[0].metadata.name as string;
      assert.match(second, /^autoscaled-[0-9a-z]{5}$/, 'a default name of its own');
      await world.emulator.admin.waitFor(() => world.emulator.admin.agents(POOL), (agents) => agents.some((a) => a.name === `${second}-0`), 180_000, `${second}-0 registered`);
      // Two jobs only its agents can take, two the pool's rule gives either runner.
      const ids = [...await queue(2, 'sleep 3', [`RUNNER_NAMESPACE -equals ${SECOND_NS}`]), ...await queue(2, 'sleep 3')];
      const results = await finished(world, ids, 300_000);
      for (const { job, log } of results) assert.equal(job.result, 'succeeded', log);
      for (const { job } of results.slice(0, 2)) assert.ok(job.agentName?.startsWith(`${second}-`), `${job.agentName} is the second runner's`);
      await waitFor('the pool back at zero', 180_000, async () => ((await replicas()) === 0 ? true : undefined));
      await passesLater(2);
      const autoAgents = async () => (await world.emulator.admin.agents(POOL)).filter((a) => /^auto-\d+$/.test(String(a.name))).map((a) => `${String(a.name)}#${String(a.id)} ${String(a.enabled)}`).sort();
      const before = await autoAgents();
      // remove, as the command line runs it, on the second runner with default inputs.
      const kube = new HttpKubeClient(loadUserKubeConfig({ path: (await cluster()).kubeconfig }));
      const ado = new RestAdoClient({ organizationUrl: world.emulator.orgUrl, token: secondPat, sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)), log: () => {} });
      const options = readRemoveOptions(new InputReader(new MemoryHost({ namespace: SECOND_NS, poolName: POOL, azureDevOpsUrl: world.emulator.orgUrl, personalAccessToken: secondPat })));
      const removed = await removeRunnerPool(options, { log: new MemoryHost(), ado, connect: async () => kube, clock: systemClock });
      assert.equal(removed.runnerName, second);
      assert.ok(!(await world.emulator.admin.agents(POOL)).some((a) => String(a.name).startsWith(`${second}-`)), 'its registrations gone');
      assert.deepEqual(await autoAgents(), before, 'this runner\'s agents untouched');
      // Every write to an agent (enable, disable, re-key, delete) went to an agent of the runner that sent it: whose each
      // agent was when it was made, from the emulator's record of writes to agents (it keeps the deleted ones).
      const madeIn = new Map((await world.emulator.admin.agentWrites()).filter((write) => write.action === 'registered')
        .map((write) => [write.agentId, write.systemCapabilities?.RUNNER_NAMESPACE]));
      const writer: Record<string, string> = { 'pat:pool@e2e.example': NS, 'pat:second@e2e.example': SECOND_NS };
      const foreign = (await world.emulator.admin.requests(since)).flatMap((request) => {
        const id = /\/agents\/(\d+)$/.exec(request.path)?.[1];
        const by = request.principal && writer[request.principal];
        return request.method !== 'GET' && id !== undefined && by !== undefined && madeIn.get(Number(id)) !== by ? [`${request.method} ${request.path} by ${by}`] : [];
      });
      assert.deepEqual(foreign, []);
      assert.ok((await world.emulator.admin.requests(since)).some((r) => r.principal === 'pat:second@e2e.example' && r.method === 'DELETE'), 'the check has writes to check');
    } finally {
      await deleteNamespace(SECOND_NS);
    }
  });

  it('turning autoscaling off removes the autoscaler and hands the count back to the task', async () => {
    const off = await deployPool(world, { namespace: NS, poolName: POOL, runnerName: 'auto', autoscaling: 'none', replicas: '0', rolloutStatusTimeout: '180' });
    assert.equal(off.result, 'Succeeded', off.message);
    const left = await kubectl(['get', 'deployments,serviceaccounts,roles,rolebindings', '-n', NS, '-o', 'name']);
    assert.doesNotMatch(left, /auto-autoscaler/);
    assert.equal(await replicas(), 0);
  });
});
