// Test support: runner containers of an image on Docker against the emulator, and the image's core checks, shared by
// the runner image's own tests and the tests of images built by BuildRunnerImage.
import assert from 'node:assert/strict';
import { docker } from './docker.js';
import { run } from './process.js';
import type { TestEmulator } from './emulator.js';

export interface AgentContainer {
  env?: Record<string, string>;
  credential?: 'pat' | 'sp' | 'none';
  mounts?: string[];
  mode?: string;
}

export interface RunnerWorld {
  image: string;
  emulator: TestEmulator;
  pool: string;
  token: string;
  sp?: { clientId: string; tenantId: string; secret: string };
}

// Container names are unique within this process, across every image's containers.
let containerCount = 0;

/** Runner containers of one image; `removeAll()` removes every container they started. */
export class RunnerContainers {
  private readonly started: string[] = [];

  constructor(readonly world: RunnerWorld) {}

  /** `docker run` options of a runner container: host network (the emulator is on loopback), restricted like a pod. */
  private runArgs(agentName: string, options: AgentContainer): { args: string[]; env: NodeJS.ProcessEnv } {
    const { emulator, pool, token, sp, image } = this.world;
    const env: Record<string, string> = { AZP_URL: emulator.orgUrl, AZP_POOL: pool, AZP_AGENT_NAME: agentName, ...options.env };
    const credential = options.credential ?? 'pat';
    if (credential === 'pat') env.AZP_TOKEN = token;
    if (credential === 'sp') {
      assert.ok(sp, 'a service principal credential needs world.sp');
      Object.assign(env, { AZP_CLIENT_ID: sp.clientId, AZP_TENANT_ID: sp.tenantId, AZP_CLIENT_SECRET: sp.secret });
    }
    const args = ['--network', 'host', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges'];
    // `-e NAME` takes the value from the docker client's environment: secrets stay off command lines.
    for (const name of Object.keys(env)) args.push('-e', name);
    for (const mount of options.mounts ?? []) args.push('-v', mount);
    return { args: [...args, image, ...(options.mode ? [options.mode] : [])], env: { ...process.env, ...env } };
  }

  async start(agentName: string, options: AgentContainer = {}): Promise<string> {
    const container = `adr-e2e-${process.pid}-${++containerCount}`;
    const { args, env } = this.runArgs(agentName, options);
    this.started.push(container);
    await docker(['run', '-d', '--name', container, ...args], { env });
    return container;
  }

  /** Runs a container to its end; returns its exit code and output. */
  async runToEnd(agentName: string, options: AgentContainer = {}) {
    const { args, env } = this.runArgs(agentName, options);
    return run('docker', ['run', '--rm', ...args], { env, timeoutMs: 120_000 });
  }

  /** Starts a runner container and waits until its agent is online (a pool without agents rejects jobs). */
  async startOnline(agentName: string, options: AgentContainer = {}): Promise<string> {
    const container = await this.start(agentName, options);
    await this.waitOnline(agentName).catch(async (error: Error) => {
      throw new Error(`${error.message}\ncontainer log:\n${await this.logs(container)}`);
    });
    return container;
  }

  async exitCode(container: string, timeoutMs = 60_000): Promise<number> {
    const result = await run('docker', ['wait', container], { timeoutMs });
    assert.equal(result.code, 0, `container ${container} did not exit within ${timeoutMs} ms`);
    return Number(result.stdout.trim());
  }

  async logs(container: string): Promise<string> {
    const result = await run('docker', ['logs', container]);
    return result.stdout + result.stderr;
  }

  async agentsNamed(name: string) {
    return (await this.world.emulator.admin.agents(this.world.pool)).filter((agent) => agent.name === name);
  }

  async waitOnline(name: string): Promise<void> {
    await this.world.emulator.admin.waitFor(() => this.agentsNamed(name), (found) => found.some((a) => a.status === 'online'), 60_000, `${name} online`);
  }

  /** Queues a job for the pool and waits for its result. */
  async runJob(script: string, env?: Record<string, string>, timeoutMs = 90_000) {
    const { admin } = this.world.emulator;
    const queued = await admin.queueJob({ pool: this.world.pool, script, env });
    assert.ok(!('rejected' in queued), `job rejected: ${JSON.stringify(queued)}`);
    const job = await admin.waitForJob(queued.requestId, timeoutMs);
    return { job, log: await admin.jobLog(job.requestId) };
  }

  async removeAll(): Promise<void> {
    for (const name of this.started.splice(0)) await run('docker', ['rm', '-f', name]);
  }
}

/** A needle written into a script so that the script text never contains it in one piece. */
export const split = (secret: string) => `'${secret.slice(0, 8)}''${secret.slice(8)}'`;

/** The container registers under its name, runs one job as the non-root agent user, reports the result and exits 0. */
export async function checkRunsOneJob(runners: RunnerContainers, agentName: string): Promise<void> {
  const container = await runners.startOnline(agentName);
  const { job, log } = await runners.runJob('echo "hello from $(id -un) uid $(id -u)"');
  assert.equal(job.result, 'succeeded');
  assert.equal(job.agentName, agentName);
  assert.match(log, /hello from agent uid 10001/);
  assert.equal(await runners.exitCode(container), 0);
  const output = await runners.logs(container);
  assert.match(output, new RegExp(`registering agent '${agentName}' in pool '${runners.world.pool}'`));
  assert.ok(!output.includes(runners.world.token), 'the PAT never reaches the container log');
  const [agent] = await runners.agentsNamed(agentName);
  assert.equal(agent.status, 'offline', 'the registration is kept after the job');
}

/** A job step finds the credential nowhere: environment, /proc/*\/environ, cmdlines, files; every process is the agent user. */
export async function checkCredentialUnreachable(runners: RunnerContainers, agentName: string, credential: 'pat' | 'sp', canary: string): Promise<void> {
  const secret = credential === 'pat' ? runners.world.token : runners.world.sp!.secret;
  // The scan looks for two needles: the credential (must be absent) and a canary that the job's own environment
  // carries (must be found, or the scan itself is broken).
  const scan = `
found() { grep -qF -f <(printf '%s\\n' "$1"); }
scan() {
  env | found "$2" && echo "$1 env"
  for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do
    [ -r "$f" ] && tr '\\0' '\\n' < "$f" 2>/dev/null | found "$2" && echo "$1 $f"
  done
  grep -rlsF --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev -f <(printf '%s\\n' "$2") / | sed "s|^|$1 file |"
}
scan SECRET ${split(secret)}
scan CANARY ${split(canary)}
unreadable=0
for f in /proc/[0-9]*/environ; do [ -r "$f" ] || unreadable=$((unreadable + 1)); done
echo "UNREADABLE $unreadable"
echo "UIDS $(awk '/^Uid:/ {print $2, $3}' /proc/[0-9]*/status | tr ' ' '\\n' | sort -u | tr '\\n' ' ')"
echo "PID1 $(tr '\\0' ' ' < /proc/1/cmdline)"
echo "SCAN-$((6 * 7))"`;
  const container = await runners.startOnline(agentName, { credential });
  const { job, log } = await runners.runJob(scan, { SCAN_CANARY: canary });
  assert.equal(job.result, 'succeeded', log);
  assert.match(log, /SCAN-42/);
  assert.match(log, /CANARY env/, 'the scan finds what is there');
  assert.match(log, /CANARY \/proc\/\d+\/environ/);
  assert.doesNotMatch(log, /SECRET (env|\/proc|file)/, `the ${credential} credential is reachable:\n${log}`);
  assert.match(log, /UNREADABLE [2-9]/, 'PID 1 and start.sh are not dumpable');
  assert.match(log, /UIDS 10001 $/m, 'every process runs as the agent user');
  assert.match(log, /PID1 \/usr\/local\/lib\/azp\/init /);
  assert.equal(await runners.exitCode(container), 0);
}
