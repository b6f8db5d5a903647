// The runner image's typed helper, bundled into one file (scripts/build.mjs) and run by the image's entrypoints
// (docker/start.sh, docker/start.ps1) on the Node that ships with the agent: `node runner.js <command> [args…]`.
//   settings MODE [NAME…]    the entrypoint's settings for MODE, checked, as NAME=value lines (NAME…: the credential
//                            settings it found set, never their values)
//   clean-slate --agent-dir <dir> --work <AZP_WORK> [--home <dir> --skel <dir>] [scratch dir…]
//                            removes what an earlier run left in this container (the agent's settings and logs, the
//                            work folder, the user's temporary files and $HOME), before the agent registers or runs
//   save-registration <agent dir> <config dir>
//   restore-registration <agent dir> <config dir>
//                            the agent's settings files into AZP_CONFIG_DIR (register mode) and back (run mode)
//   share-externals <externals> <node> <dir>
//                            the init container of container jobs: the agent's externals, runner.js and a link to
//                            the Node into the pod's volume
//   recycle                  the recycle sidecar: deletes its own pod once the agent has run its job
//   recycle-start <dir>      the agent container's request to the sidecar before its agent starts, and the wait
//                            (start.ps1; start.sh's `run` does it in-process)
//   recycle-done <dir>       the agent container's word to the sidecar that the agent ran its job (start.ps1; as above)
//   run --agent-dir <dir> --agent-name <name> --registration <registered|autoscaler|saved> [--config-dir <dir>]
//       [--recycle-dir <dir>] [--notify <pid>] -- <agent environment…>
//                            the agent's one run after start.sh's clean slate: its registration in run mode, the
//                            recycle sidecar's hand-off, the agent under supervise (SIGUSR2 to <pid> as it starts)
//   supervise -- <command…>  runs a command as `run` runs the agent, passing a stop signal to its listener only (the
//                            entrypoints use `run`; this one runs the supervisor on its own)
//   handshake [agent dir]    waits for the in-cluster autoscaler to register this pod's agent (AZP_REGISTRATION=autoscaler)
//   docker-proxy             dockerMode hostSocket's sidecar: the node's Docker engine for the job, and the cleanup after it
//   docker <args…>           dockerMode podContainers' `docker` on the agent's PATH: the pod's declared containers
//   exec-server <socket>     dockerMode podContainers' exec helper in each job container: runs the agent's `docker exec`
import { constants, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { awaitStartAllowed, deletePodOverHttps, handOffPresent, leaveHandOff, readRecycleSettings, recycleFiles, recycleWhenDone } from './recycle.js';
import { supervise } from './supervise.js';
import { childSteps, registrations, runAgent, type Registration } from './run.js';
import { awaitRegistration, readHandshakeSettings } from './handshake.js';
import { readDockerProxySettings, startDockerProxy } from './docker-proxy.js';
import { accessible, configError, SettingError, StepError, UsageError } from './settings.js';
import { dockerShim } from './docker-shim.js';
import { startExecServer } from './exec-server.js';
import { readPodContainers } from './pod-containers.js';
import { credentialNames, formatStartSettings, readStartSettings } from './start-settings.js';
import { withoutLoggingCommands } from '../src/core/index.js';
import { shareExternals } from './share-externals.js';
import { cleanSlate, reason } from './clean-slate.js';
import { restoreRegistration, saveRegistration } from './agent-settings.js';

const log = (command: string) => (message: string) => console.log(`runner ${command}: ${message}`);
const error = (command: string) => (message: string) => {
  for (const line of message.split('\n')) console.error(`runner ${command}: error: ${withoutLoggingCommands(line)}`);
};

const isRegistration = (name: string): name is Registration => (registrations as readonly string[]).includes(name);
const writableDir = (path: string) => accessible(path, constants.W_OK, 'directory');
const platform = process.platform === 'win32' ? 'windows' : 'linux';
/** This user (Linux); Windows has no uid, and its rules ask for none. */
const uid = process.getuid?.() ?? -1;

/** The entrypoint's settings for a mode, checked, as NAME=value lines (runner/start-settings.ts). */
function printSettings([mode = '', ...credentials]: string[]): number {
  const unknown = credentials.filter((name) => !(credentialNames as readonly string[]).includes(name));
  // Never echoed: an argument that is no name could be a value.
  if (unknown.length > 0) throw new UsageError(`settings takes only the names of the credential settings set (${credentialNames.join(', ')})`);
  const hostName = process.env[platform === 'windows' ? 'COMPUTERNAME' : 'HOSTNAME'] || hostname();
  process.stdout.write(formatStartSettings(readStartSettings(mode, { platform, env: process.env, hostName, credentials: new Set(credentials), writableDir })));
  return 0;
}

/**
 * `--name value` options (each at most once, from `names`), then the other arguments as they came (those after `--`,
 * if it ends the options). Named rather than in places: PowerShell drops an empty argument to a native command, which
 * would shift every place after it.
 */
function options(args: string[], names: readonly string[], usage: string): { named: Map<string, string>; rest: string[] } {
  const named = new Map<string, string>();
  let at = 0;
  for (; at < args.length && args[at].startsWith('--'); at += 2) {
    if (args[at] === '--') return { named, rest: args.slice(at + 1) };
    const name = args[at].slice(2);
    if (!names.includes(name) || named.has(name) || at + 1 >= args.length) throw new UsageError(usage);
    named.set(name, args[at + 1]);
  }
  return { named, rest: args.slice(at) };
}

const runUsage = 'run needs the agent root, its name, how it is registered and the agent\'s environment: runner.js run --agent-dir <dir> --agent-name <name> --registration <registered|autoscaler|saved> [--config-dir <dir>] [--recycle-dir <dir>] [--notify <pid>] -- <agent environment…>';

/** The agent container's side of the hand-off: asks the recycle sidecar whether the agent may start, and waits. */
const askToStart = (dir: string) => awaitStartAllowed({
  request: () => leaveHandOff(dir, recycleFiles.agentStart),
  answered: () => !handOffPresent(dir, recycleFiles.agentStart),
  sleep: (ms) => sleep(ms),
});

const cleanSlateUsage = 'clean-slate needs the agent root and AZP_WORK: runner.js clean-slate --agent-dir <dir> --work <AZP_WORK> [--home <dir> --skel <dir>] [scratch dir…]';

/** Each command: its arguments in, its exit code out. */
const commands: Record<string, (args: string[]) => Promise<number>> = {
  settings: (args) => Promise.resolve(printSettings(args)),
  'clean-slate': (args) => {
    const { named, rest } = options(args, ['agent-dir', 'work', 'home', 'skel'], cleanSlateUsage);
    const agentDir = named.get('agent-dir');
    const work = named.get('work');
    if (!agentDir || !work) throw new UsageError(cleanSlateUsage);
    cleanSlate({ platform, uid, agentDir, work, scratchDirs: rest, home: named.get('home'), skel: named.get('skel') });
    return Promise.resolve(0);
  },
  'save-registration': ([agentDir = '', configDir = '']) => {
    if (!agentDir || !configDir) throw new UsageError('save-registration needs the agent root and AZP_CONFIG_DIR: runner.js save-registration <agent dir> <config dir>');
    saveRegistration({ platform, uid, agentDir, configDir });
    return Promise.resolve(0);
  },
  'restore-registration': ([agentDir = '', configDir = '']) => {
    if (!agentDir || !configDir) throw new UsageError('restore-registration needs the agent root and AZP_CONFIG_DIR: runner.js restore-registration <agent dir> <config dir>');
    restoreRegistration({ platform, uid, agentDir, configDir });
    return Promise.resolve(0);
  },
  'share-externals': ([externals = '', node = '', target = '']) => {
    if (!externals || !node) throw new UsageError('share-externals needs the agent\'s externals, the Node to link and the pod\'s volume: runner.js share-externals <externals> <node> <dir>');
    shareExternals({ externals, node, runnerJs: process.argv[1], target });
    log('share-externals')(`shared the agent's externals in ${target}`);
    return Promise.resolve(0);
  },
  async recycle() {
    const settings = readRecycleSettings(process.env);
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => process.exit(0));
    await recycleWhenDone(settings, {
      jobDone: () => handOffPresent(settings.recycleDir, recycleFiles.jobDone),
      startRequested: () => handOffPresent(settings.recycleDir, recycleFiles.agentStart),
      allowStart: () => rmSync(join(settings.recycleDir, recycleFiles.agentStart), { force: true, recursive: true }),
      deletePod: () => deletePodOverHttps(settings),
      sleep: (ms) => sleep(ms),
      log: log('recycle'),
      error: error('recycle'),
    });
    // Kubernetes stops this container with the pod; exiting sooner would restart the sidecar.
    return new Promise(() => setInterval(() => {}, 60_000));
  },
  // The agent container's side of the hand-off with the recycle sidecar (recycle.ts), in the volume they share.
  async 'recycle-start'([dir = '']) {
    if (!dir) throw new UsageError('recycle-start needs the volume shared with the recycle sidecar: runner.js recycle-start <dir>');
    await askToStart(dir);
    return 0;
  },
  'recycle-done': ([dir = '']) => {
    if (!dir) throw new UsageError('recycle-done needs the volume shared with the recycle sidecar: runner.js recycle-done <dir>');
    leaveHandOff(dir, recycleFiles.jobDone);
    return Promise.resolve(0);
  },
  run(args) {
    const { named, rest: agentEnv } = options(args, ['agent-dir', 'agent-name', 'registration', 'config-dir', 'recycle-dir', 'notify'], runUsage);
    const [agentDir, agentName, registration] = ['agent-dir', 'agent-name', 'registration'].map((name) => named.get(name) ?? '');
    // An empty directory is none: start.sh passes each setting as it is.
    const configDir = named.get('config-dir') || undefined;
    const recycleDir = named.get('recycle-dir') || undefined;
    const notify = Number(named.get('notify') ?? 0);
    if (!agentDir || !agentName || !isRegistration(registration) || agentEnv.length === 0 || (registration === 'saved' && !configDir) || !Number.isInteger(notify) || notify < 0) {
      throw new UsageError(runUsage);
    }
    try {
      process.chdir(agentDir);
    } catch (caught) {
      throw new StepError(`can't enter the agent root '${agentDir}': ${reason(caught)}`);
    }
    const steps = childSteps();
    return runAgent({ agentName, registration, recycleDir }, {
      // In the agent's environment: the request holds the capabilities the agent will report.
      handshake: () => steps.step([...agentEnv, process.execPath, process.argv[1], 'handshake', agentDir]),
      restore: () => restoreRegistration({ platform, uid, agentDir, configDir: configDir! }),
      awaitStartAllowed: () => askToStart(recycleDir!),
      agentStarting: () => {
        if (notify > 0) process.kill(notify, 'SIGUSR2');
      },
      agent: () => supervise([...agentEnv, './run.sh', '--once'], { log: log('supervise') }),
      jobDone: () => leaveHandOff(recycleDir!, recycleFiles.jobDone),
      onStop: (handler) => {
        process.on('SIGTERM', handler);
        process.on('SIGINT', handler);
      },
      endSteps: () => steps.end(),
      log: log('run'),
    });
  },
  supervise: (args) => supervise(args, { log: log('supervise') }),
  async handshake([agentDir = '/azp/agent']) {
    const settings = readHandshakeSettings(process.env, agentDir);
    // No SIGTERM handler: the default ends it at once, even while it makes the agent's key (synchronous, up to a second).
    await awaitRegistration({ ...settings, log: log('handshake') });
    return 0;
  },
  async 'docker-proxy'() {
    const settings = readDockerProxySettings(process.env);
    const proxy = await startDockerProxy({ ...settings, log: log('docker-proxy') });
    log('docker-proxy')(`passing the job's Docker calls to ${settings.upstream}`);
    // Kubernetes stops this sidecar once the agent's job is over, or when the pod is deleted: then it cleans up.
    return new Promise((resolve) => {
      process.once('SIGTERM', () => {
        proxy.stop().then(() => resolve(0), (caught: unknown) => {
          error('docker-proxy')(`cleaning up after the job: ${caught instanceof Error ? caught.message : String(caught)}`);
          resolve(1);
        });
      });
    });
  },
  docker: (args) => dockerShim(args, readPodContainers(process.env), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env }),
  async 'exec-server'([socket]) {
    if (!socket) throw new UsageError('exec-server needs the socket to listen on: runner.js exec-server <socket dir>/<container name>.sock');
    const server = await startExecServer({ socket, log: log('exec-server') });
    // Kubernetes stops this container with the pod.
    return new Promise((resolve) => process.once('SIGTERM', () => server.close(() => resolve(0))));
  },
};

async function main([name = '', ...args]: string[]): Promise<number> {
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  try {
    if (command === undefined) throw new UsageError(`unknown command '${name}' (expected ${new Intl.ListFormat('en', { type: 'disjunction' }).format(Object.keys(commands))})`);
    return await command(args);
  } catch (caught) {
    if (caught instanceof SettingError || caught instanceof StepError || caught instanceof UsageError) {
      error(name || 'runner')(caught.message);
      return caught instanceof UsageError ? 64 : configError;
    }
    throw caught;
  }
}

void main(process.argv.slice(2)).then((code) => process.exit(code));
