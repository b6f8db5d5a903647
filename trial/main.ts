// `npm start` and `npm stop`: the whole product on this one machine against the Azure DevOps emulator — a pool running
// jobs in fresh pods, the in-cluster autoscaler and the Runner pools hub — before any organization or pipeline exists.
//   npm start                    everything, then sample jobs; Ctrl-C (or npm stop) removes all it started
//   npm start -- --jobs 20       that many sample jobs; while a trial runs: queue that many more into it
//   npm start -- --ci            one job, waited for, the hub checked, then stop (exit status 0 when all worked)
//   npm stop                     stops a running trial, or cleans up after one that did not stop
// It stands on the repository's test infrastructure, and says so where it uses it: the local Kubernetes cluster is
// tests/cluster (compiled from source the first time), packages come from tests/install-deps.sh, the Debian base image
// from tests/support/base-image.sh, and Azure DevOps is the emulator (emulator/). The pool itself is deployed and
// removed by the command line (cli/): the code a pipeline's DeployRunnerPool runs.
import { randomBytes, createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildCli, buildHub, buildRunner, cliBundle, root } from '../scripts/build.mjs';
import { buildAgentPackage } from '../emulator/agent/package.js';
import { startEmulatorServer } from '../emulator/src/server.js';
import { AdminClient } from '../emulator/src/admin-client.js';
import { HttpKubeClient, loadKubeConfig } from '../src/clients/kube-http.js';
import type { KubeClient } from '../src/core/index.js';
import { extension, startHubHost } from './hub-host.js';
import { startTcpRelay } from './tcp-relay.js';
import { runLogged, say, step } from './progress.js';
import { followingBuild } from './build-progress.js';

const namespace = 'adr-trial';
const poolName = 'Trial';
const runnerName = 'trial';
const stateDir = '/run/adr-trial';
const stateFile = join(stateDir, 'state.json');
const patFile = join(stateDir, 'pat');
const clusterScript = join(root, 'tests', 'cluster', 'cluster.sh');
/** Where the local cluster's pods reach this machine (tests/cluster/versions.sh, NODE_IP). */
const nodeAddress = '10.250.0.1';
const sampleScript = [
  'echo "Hello from $RUNNER_POD_NAME (pod $RUNNER_POD_UID) on node $RUNNER_NODE_NAME"',
  'sleep 20',
  'echo "This pod goes with the job: the next job in this slot gets a fresh one."',
].join('\n');

interface Options {
  jobs?: number;
  ci: boolean;
  stop: boolean;
  port: number;
  runners: number;
}

/** What `npm stop` and a second `npm start` need to know of a running trial (or of one that did not stop). */
interface State {
  pid: number;
  startedCluster: boolean;
  startedLegacy: boolean;
  kubeconfig?: string;
  /** The emulator as this machine reaches it, and the sample pipeline `--jobs` runs. */
  emulatorOrgUrl?: string;
  pipeline?: { id: number; projectId: string };
  hubUrl?: string;
}

function usage(message: string): never {
  say(`npm start: ${message}\nUsage: npm start [-- --jobs <n>] [-- --ci] [-- --port <port>] [-- --runners <n>]; npm stop`);
  process.exit(2);
}

function parseOptions(args: string[]): Options {
  const options: Options = { ci: false, stop: false, port: 8800, runners: 4 };
  const number = (flag: string, value: string | undefined, min: number, max: number) => {
    const parsed = Number(value);
    if (!/^\d+$/.test(value ?? '') || parsed < min || parsed > max) usage(`${flag} needs a whole number from ${min} to ${max}.`);
    return parsed;
  };
  for (let index = 0; index < args.length; index++) {
    const arg = args[index];
    if (arg === '--ci') options.ci = true;
    else if (arg === '--stop') options.stop = true;
    else if (arg === '--jobs') options.jobs = number(arg, args[++index], 0, 500);
    else if (arg === '--port') options.port = number(arg, args[++index], 1024, 65534);
    else if (arg === '--runners') options.runners = number(arg, args[++index], 1, 50);
    else usage(`unknown argument '${arg}'.`);
  }
  return options;
}

function readState(): State | undefined {
  try {
    return JSON.parse(readFileSync(stateFile, 'utf8')) as State;
  } catch {
    return undefined;
  }
}

function saveState(state: State): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  writeFileSync(stateFile, JSON.stringify(state, null, 2), { mode: 0o600 });
}

/** Whether `pid` is a trial still running (not another program that got its number since). */
function trialRuns(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('trial/main.ts');
  } catch {
    return false;
  }
}

function parseEnv(text: string): Record<string, string> {
  return Object.fromEntries(text.split('\n').filter((line) => line.includes('=')).map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
}

function clusterEnv(): Record<string, string> {
  return parseEnv(spawnSync(clusterScript, ['env'], { encoding: 'utf8' }).stdout);
}

function logFile(name: string): string {
  mkdirSync(join(stateDir, 'logs'), { recursive: true });
  return join(stateDir, 'logs', `${name}.log`);
}

function kubeClient(kubeconfig: string): KubeClient {
  return new HttpKubeClient(loadKubeConfig(kubeconfig));
}

async function deleteNamespace(kube: KubeClient): Promise<void> {
  const ref = { apiVersion: 'v1', kind: 'Namespace', name: namespace };
  if (!(await kube.delete(ref))) return;
  for (let waited = 0; (await kube.get(ref)) !== undefined; waited++) {
    if (waited > 180) throw new Error(`the namespace ${namespace} is still there after 3 min`);
    await sleep(1000);
  }
}

/** Runs the sample pipeline `count` times, as a pipeline run is queued in Azure DevOps (REST, with the PAT). */
async function queueRuns(state: State, count: number): Promise<void> {
  const token = readFileSync(patFile, 'utf8').trim();
  const { id, projectId } = state.pipeline!;
  for (let run = 0; run < count; run++) {
    const response = await fetch(`${state.emulatorOrgUrl}/${projectId}/_apis/pipelines/${id}/runs?api-version=7.1`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`:${token}`).toString('base64')}`, 'content-type': 'application/json' },
      body: '{}',
    });
    if (!response.ok) throw new Error(`queueing a run: HTTP ${response.status} ${await response.text()}`);
  }
}

/** The command line, as a user runs it; the PAT goes in on stdin. */
function cli(args: string[], token: string, log: string, note?: (line: string) => void): Promise<string> {
  return runLogged(process.execPath, [cliBundle, ...args, '--token-stdin'], { log, note, input: `${token}\n` });
}

/** Stops what a trial that is gone left running: its pool's namespace, the legacy API server and the cluster it started. */
async function cleanUpAfter(state: State): Promise<void> {
  const env = clusterEnv();
  const clusterUp = spawnSync(clusterScript, ['status'], { stdio: 'ignore' }).status === 0;
  if (state.kubeconfig && (clusterUp || state.kubeconfig !== env.KUBECONFIG)) {
    await step(`Deleting the namespace ${namespace}`, () => deleteNamespace(kubeClient(state.kubeconfig!)));
  }
  if (state.startedCluster) await step('Stopping the local cluster', (note) => runLogged(clusterScript, ['down'], { log: logFile('cluster'), note }));
  else if (state.startedLegacy) await step('Stopping the second API server', (note) => runLogged(clusterScript, ['legacy-down'], { log: logFile('cluster'), note }));
  rmSync(stateDir, { recursive: true, force: true });
}

async function stopTrial(): Promise<number> {
  const state = readState();
  if (state === undefined) {
    say('No trial runs.');
    return 0;
  }
  if (!trialRuns(state.pid)) {
    say('The last trial did not stop cleanly: removing what it left.');
    await cleanUpAfter(state);
    return 0;
  }
  process.kill(state.pid, 'SIGTERM');
  await step(`Stopping the trial (process ${state.pid}); it removes everything it started`, async () => {
    for (let waited = 0; trialRuns(state.pid); waited++) {
      if (waited > 600) throw new Error(`the trial (process ${state.pid}) is still stopping after 5 min; see its terminal`);
      await sleep(500);
    }
  });
  return 0;
}

/** The runner image's tag: a hash of what goes into it, so an unchanged image is not built again. */
function imageTag(agentSha256: string): string {
  const hash = createHash('sha256').update(agentSha256);
  for (const file of ['images/linux/Dockerfile', 'images/linux/install.sh', 'docker/start.sh', 'dist/runner/runner.js', 'dist/runner/autoscaler.js']) {
    hash.update(readFileSync(join(root, file)));
  }
  return `trial-${hash.digest('hex').slice(0, 12)}`;
}

interface Checks {
  job: boolean;
  hub: boolean;
}

/** --ci: one job runs to success, and the hub's page, its script and the data it reads all answer. */
async function ciChecks(admin: AdminClient, state: State, hub: { pageUrl: string; origin: string; orgUrl: string; token: string }): Promise<Checks> {
  const checks: Checks = { job: false, hub: false };
  await step('Running one job', async (note) => {
    const before = new Set((await admin.jobs()).map((job) => job.requestId));
    await queueRuns(state, 1);
    let job = (await admin.jobs()).find((queued) => !before.has(queued.requestId));
    if (!job) throw new Error('the run queued no job');
    for (let waited = 0; job.state !== 'finished'; waited++) {
      if (waited > 300) throw new Error('the job did not finish within 5 min');
      note(job.assignTime ? 'running' : 'queued');
      await sleep(1000);
      job = await admin.job(job.requestId);
    }
    if (job.result !== 'succeeded') throw new Error(`the job ended ${job.result}:\n${job.log.join('\n')}`);
    checks.job = true;
  });
  await step('Checking that the hub answers', async () => {
    const page = await fetch(hub.pageUrl);
    if (!page.ok || !(await page.text()).includes('<iframe id="hub"')) throw new Error(`the host page answered ${page.status}`);
    const script = await fetch(`${hub.origin}/hub/runner-pools.js`);
    if (!script.ok) throw new Error(`the hub's script answered ${script.status}`);
    // What the hub reads, read as it reads it: with the page's token, from another origin.
    const read = async (path: string) => {
      const response = await fetch(`${hub.orgUrl}/${path}`, { headers: { authorization: `Bearer ${hub.token}`, origin: hub.origin } });
      if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
      if (response.headers.get('access-control-allow-origin') !== hub.origin) throw new Error(`${path}: no CORS answer for ${hub.origin}`);
      return (await response.json()) as { value: Array<Record<string, unknown>> };
    };
    const pools = await read(`_apis/distributedtask/pools?poolName=${encodeURIComponent(poolName)}&api-version=7.1`);
    const poolId = pools.value[0]?.id as number | undefined;
    if (poolId === undefined) throw new Error(`the pool '${poolName}' is not there`);
    const agents = await read(`_apis/distributedtask/pools/${poolId}/agents?includeCapabilities=true&api-version=7.1`);
    if (!agents.value.some((agent) => String(agent.name).startsWith(`${runnerName}-`))) throw new Error('the pool has no runner agent');
    const snapshots = await read(`_apis/ExtensionManagement/InstalledExtensions/${extension.publisher}/${extension.id}/Data/Scopes/Default/Current/Collections/runner-pools/Documents?api-version=7.1-preview.1`);
    if (!snapshots.value.some((document) => document.id === `${namespace}.${runnerName}`)) throw new Error('no snapshot of the pool\'s pods for the hub');
    checks.hub = true;
  });
  return checks;
}

/** Prints each job as it is queued, starts and ends. */
function followJobs(admin: AdminClient): () => void {
  const seen = new Map<number, string>();
  const stopping = new AbortController();
  void (async () => {
    while (await sleep(1000, true, { signal: stopping.signal }).catch(() => false)) {
      // A read that fails (the emulator stopping) is read again a second later.
      const jobs = await admin.jobs().catch(() => []);
      if (stopping.signal.aborted) return;
      for (const job of jobs) {
        // The name the job was given to: the single-use rule may have deleted that registration since.
        const agent = job.agentName;
        const state = job.result !== undefined ? `${job.result} on ${agent}` : job.receiveTime ? `running on ${agent}` : 'queued';
        if (seen.get(job.requestId) === state) continue;
        seen.set(job.requestId, state);
        const took = job.result !== undefined && job.receiveTime ? ` after ${Math.round((Date.parse(job.finishTime ?? '') - Date.parse(job.receiveTime)) / 1000)} s` : '';
        say(`  ${new Date().toTimeString().slice(0, 8)}  job ${job.requestId} (${job.owner?.name ?? job.name}): ${state}${took}`);
      }
    }
  })();
  return () => stopping.abort();
}

async function startTrial(options: Options): Promise<number> {
  const started = Date.now();
  const existing = readState();
  if (existing && trialRuns(existing.pid)) {
    if (options.jobs === undefined) {
      say(`A trial runs already (process ${existing.pid}): ${existing.hubUrl ?? 'starting'}. npm start -- --jobs <n> queues more jobs; npm stop stops it.`);
      return 0;
    }
    await queueRuns(existing, options.jobs);
    say(`Queued ${options.jobs} jobs into the running trial: see them in ${existing.hubUrl}.`);
    return 0;
  }
  if (process.platform !== 'linux' || process.getuid?.() !== 0) {
    usage('it needs root on Linux (Debian 12): it installs Debian packages, builds the runner image with buildah and, unless KUBECONFIG names a cluster, starts a local Kubernetes cluster.');
  }
  const external = process.env.KUBECONFIG || undefined;
  if (external && (!process.env.ADR_REGISTRY || !process.env.ADR_EMULATOR_HOST)) {
    usage('with KUBECONFIG, set ADR_REGISTRY (a registry this machine pushes to and the cluster\'s nodes pull from) and ADR_EMULATOR_HOST (an address of this machine the cluster\'s pods reach).');
  }
  if (existing) {
    say('The last trial did not stop cleanly: removing what it left first.');
    await cleanUpAfter(existing);
  }
  const state: State = { pid: process.pid, startedCluster: false, startedLegacy: false };
  saveState(state);
  // What to undo on the way out, in the reverse order it was done.
  const undo: Array<{ what: string; run: () => Promise<unknown> }> = [];
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= (async () => {
    say('\nStopping: removing everything the trial started.');
    for (const { what, run } of undo.reverse()) {
      try {
        await step(what, async () => run());
      } catch (error) {
        say(`  ${(error as Error).message}`);
      }
    }
    rmSync(stateDir, { recursive: true, force: true });
    say(`Stopped: nothing of the trial is left running${state.startedCluster ? '' : ' (the cluster it found running stays up)'}.`);
  })());
  let signals = 0;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (++signals === 1) void stop().then(() => process.exit(options.ci ? 1 : 0));
      else if (signals === 2) say('Still stopping (once more to leave now: npm stop then removes the rest).');
      else process.exit(130);
    });
  }

  try {
    const env = clusterEnv();
    const built = existsSync(join(env.K8S_CACHE ?? '/nonexistent', 'bin', 'kubelet'));
    if (!external && !built) {
      say('First run: etcd and Kubernetes are compiled from source (tests/cluster/build.sh), once: about 6 minutes on 2 idle');
      say('cores, up to 20 on a busy machine. They are cached in /var/cache/adr; later runs start in about 2 minutes.');
    }
    await step(`Installing Debian packages (tests/install-deps.sh)${!external && !built ? ' and compiling Kubernetes' : ''}`, (note) =>
      runLogged('bash', [join(root, 'tests', 'install-deps.sh')], { log: logFile('install'), note: followingBuild(note), env: { ...process.env, ADR_BUILD_PROGRESS: '1', ...(external && { ADR_NO_CLUSTER: '1' }) } }));

    let kubeconfig: string;
    let registry: string;
    let emulatorHost: string;
    if (external) {
      kubeconfig = external;
      registry = process.env.ADR_REGISTRY!;
      emulatorHost = process.env.ADR_EMULATOR_HOST!;
      say(`Using the cluster of KUBECONFIG (${external}), the registry ${registry}, and ${emulatorHost} for its pods to reach the emulator.`);
    } else {
      const status = spawnSync(clusterScript, ['status'], { encoding: 'utf8' });
      if (status.status !== 0) {
        // Marked first: interrupted halfway, the cluster is still stopped by the clean-up.
        state.startedCluster = true;
        saveState(state);
        undo.push({ what: 'Stopping the local cluster', run: () => runLogged(clusterScript, ['down'], { log: logFile('cluster') }) });
        await step('Starting the local Kubernetes cluster (tests/cluster/cluster.sh up)', (note) => runLogged(clusterScript, ['up'], { log: logFile('cluster'), note }));
      } else {
        say('Using the local cluster that runs already (it stays up afterwards).');
      }
      if (!/^legacy-apiserver: running/m.test(status.stdout)) {
        state.startedLegacy = true;
        saveState(state);
        if (!state.startedCluster) undo.push({ what: 'Stopping the second API server', run: () => runLogged(clusterScript, ['legacy-down'], { log: logFile('cluster') }) });
        // Pods reach the API server as the kubernetes Service through it (the in-cluster autoscaler does).
        await step('Starting the API server pods reach as the kubernetes Service (cluster.sh legacy)', (note) => runLogged(clusterScript, ['legacy'], { log: logFile('cluster'), note }));
      }
      kubeconfig = env.KUBECONFIG;
      registry = env.REGISTRY;
      emulatorHost = nodeAddress;
    }
    state.kubeconfig = kubeconfig;
    saveState(state);

    const token = `trial-${randomBytes(20).toString('hex')}`;
    writeFileSync(patFile, `${token}\n`, { mode: 0o600 });
    // The agent test double (emulator/agent) stands in for the real agent, which cannot reach the emulator.
    const agentPackage = await buildAgentPackage();
    const emulator = await step(`Starting the Azure DevOps emulator on ${emulatorHost}, where the pods reach it`, () => startEmulatorServer({
      host: emulatorHost,
      pools: [poolName],
      pats: [{ token, user: 'trial@emulated.example', scopes: ['vso.agentpools_manage', 'vso.extension.data_write', 'vso.build_execute'] }],
      agentPackage,
      pollTimeoutMs: 20_000,
    }));
    undo.push({ what: 'Stopping the emulator', run: () => emulator.stop() });
    // Driven as the tests drive it, through its /_admin controls (emulator/src/admin-client.ts).
    const admin = new AdminClient(emulator.url);
    // The browser gets the emulator on loopback (through ssh -L too), on another origin than the hub's page.
    const relay = await startTcpRelay({ host: emulatorHost, port: emulator.port }, { port: options.port + 1 });
    undo.push({ what: 'Stopping the emulator\'s loopback relay', run: () => relay.stop() });
    const browserOrgUrl = `http://127.0.0.1:${relay.port}${new URL(emulator.orgUrl).pathname}`;
    const sample = await admin.createPipeline({ project: 'Trial', name: 'Sample', pool: poolName, script: sampleScript });
    Object.assign(state, { emulatorOrgUrl: emulator.orgUrl, pipeline: { id: sample.id, projectId: sample.projectId } });
    saveState(state);

    const hubDir = join(root, 'dist', 'trial', 'hub');
    await step('Building the command line, the runner image\'s programs and the hub (scripts/build.mjs)', async () => {
      await buildRunner();
      await buildCli();
      await buildHub(hubDir);
    });
    const baseCached = existsSync(join('/var/cache/adr', 'base-image')) && readdirSync(join('/var/cache/adr', 'base-image')).some((file) => file.endsWith('.tar'));
    if (!baseCached) say('First run: a minimal Debian 12 is bootstrapped for the runner image\'s base (debootstrap), once: about 4 minutes.');
    await step('Preparing the Debian base image (tests/support/base-image.sh)', (note) =>
      runLogged('bash', [join(root, 'tests', 'support', 'base-image.sh'), 'localhost/debian:bookworm', 'buildah'], { log: logFile('image'), note }));
    const tag = imageTag(agentPackage.sha256);
    const local = `localhost/azp-runner:${tag}`;
    const buildah = (args: string[], note?: (line: string) => void) => runLogged(clusterScript, ['buildah', ...args], { log: logFile('image'), note });
    const haveImage = spawnSync(clusterScript, ['buildah', 'inspect', '--type', 'image', local], { stdio: 'ignore' }).status === 0;
    if (!haveImage) {
      const packageUrl = `${emulator.url}/_download/agent/${agentPackage.version}/${agentPackage.filename}`;
      await step('Building the runner image (images/linux/Dockerfile) with buildah', (note) => buildah(['build', '--layers', '--isolation', 'chroot', '--network', 'host',
        '-f', join(root, 'images', 'linux', 'Dockerfile'), '--build-arg', 'BASE_IMAGE=localhost/debian:bookworm', '--build-arg', `AGENT_PACKAGE_URL=${packageUrl}`,
        '--build-arg', `AGENT_PACKAGE_SHA256=${agentPackage.sha256}`, '--build-arg', `AGENT_VERSION=${agentPackage.version}`, '-t', local, root], note));
    }
    const image = `${registry}/azp-runner:${tag}`;
    const loopback = /^(127\.|localhost[:/])/.test(registry);
    await step(`Pushing it to ${registry}`, (note) => buildah(['push', '-q', ...(loopback ? ['--tls-verify=false'] : []), local, `docker://${image}`], note));

    const kube = kubeClient(kubeconfig);
    await kube.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: { 'app.kubernetes.io/part-of': 'azure-devops-runner-trial' } } }, { fieldManager: 'azure-devops-runner-trial' });
    undo.push({ what: `Deleting the namespace ${namespace}`, run: () => deleteNamespace(kube) });

    const pool = ['--kubeconfig', kubeconfig, '--namespace', namespace, '--poolName', poolName, '--runnerName', runnerName, '--azureDevOpsUrl', emulator.orgUrl];
    const deploy = ['deploy', ...pool, '--image', image, '--autoscaling', 'inCluster', '--minReplicas', '0', '--maxReplicas', String(options.runners), '--pollSeconds', '2', '--rolloutStatusTimeout', '300',
      // A laptop or a 2-core machine: every slot asks for little, where a real cluster keeps the defaults (500m, 1Gi).
      '--cpuRequest', '50m', '--memoryRequest', '128Mi'];
    say(`  $ azure-devops-runner ${deploy.map((arg) => (/\s/.test(arg) ? `'${arg}'` : arg)).join(' ')} --token-stdin < ${patFile}`);
    await step('Deploying the pool with the in-cluster autoscaler, through the command line', (note) => cli(deploy, token, logFile('deploy'), note));
    undo.push({
      what: 'Removing the pool through the command line (azure-devops-runner remove)',
      run: async () => {
        // Sample jobs still queued or running would only make the removal wait.
        for (const job of await admin.jobs()) if (job.state !== 'finished') await admin.cancelJob(job.requestId);
        await cli(['remove', ...pool, '--waitSeconds', '120'], token, logFile('remove'));
      },
    });
    // A pool with no agent rejects every job: the autoscaler starts slot 0 once, and its agent stays registered.
    await step('Waiting for the autoscaler to register the pool\'s first agent', async () => {
      for (let waited = 0; (await admin.agents(poolName)).length === 0; waited++) {
        if (waited > 240) throw new Error(`no agent registered within 2 min; see kubectl -n ${namespace} logs deployment/${runnerName}-autoscaler`);
        await sleep(500);
      }
    });

    const host = await startHubHost(hubDir, browserOrgUrl, options.port);
    undo.push({ what: 'Stopping the hub\'s page', run: () => host.stop() });
    const pageToken = `trial-reader-${randomBytes(12).toString('hex')}`;
    // The token the page's host hands the hub (getAccessToken), as Azure DevOps does: the user's, reading only.
    await admin.addToken({ token: pageToken, user: 'trial@emulated.example', scopes: ['vso.agentpools', 'vso.extension.data'], expiresInSeconds: 7 * 86_400 });
    const hubUrl = host.pageUrl({ token: pageToken });
    state.hubUrl = hubUrl;
    saveState(state);

    if (options.ci) {
      const checks = await ciChecks(admin, state, { pageUrl: hubUrl, origin: host.origin, orgUrl: browserOrgUrl, token: pageToken });
      await stop();
      say(checks.job && checks.hub ? 'The trial worked: a job ran on the pool and the hub answered.' : 'The trial failed.');
      return checks.job && checks.hub ? 0 : 1;
    }
    const jobs = options.jobs ?? 3;
    await queueRuns(state, jobs);
    const stopFollowing = followJobs(admin);
    undo.push({ what: 'Following the jobs no more', run: () => Promise.resolve(stopFollowing()) });
    const kubectl = external ? 'kubectl' : `${env.KUBECTL} --kubeconfig ${kubeconfig}`;
    const minutes = Math.floor((Date.now() - started) / 60_000);
    say('');
    say(`The trial runs (ready after ${minutes > 0 ? `${minutes} min ` : ''}${Math.round(((Date.now() - started) % 60_000) / 1000)} s); ${jobs} sample jobs are queued.`);
    say('');
    say(`  The Runner pools hub, live:   ${hubUrl}`);
    say(`      from another machine:    ssh -L ${options.port}:localhost:${options.port} -L ${relay.port}:localhost:${relay.port} <this machine>, then the same URL`);
    say(`  The pool's pods:              ${kubectl} -n ${namespace} get pods -w`);
    say(`  Its autoscaler's log:         ${kubectl} -n ${namespace} logs -f deployment/${runnerName}-autoscaler`);
    say(`  The pool in a terminal:       npx azure-devops-runner status ${pool.join(' ')} --token-stdin < ${patFile}`);
    say(`  Queue more jobs:              npm start -- --jobs 20   (in another terminal)`);
    say(`  Stop, removing everything:    Ctrl-C here, or npm stop`);
    say('');
    await new Promise<never>(() => {});
    return 0;
  } catch (error) {
    say(`\n${(error as Error).message}`);
    await stop();
    return 1;
  }
}

const options = parseOptions(process.argv.slice(2));
// Exits at once when done, whatever idle connections the clients keep alive.
process.exit(await (options.stop ? stopTrial() : startTrial(options)));
