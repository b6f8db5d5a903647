// `run.sh [--once]` of the agent double: session, long poll, one job at a time (bash steps, on the host or in containers),
// lock renewal, finish, log upload.
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { systemCapabilities } from './capabilities.js';
import { LOCATION, VssClient, VssHttpError } from './client.js';
import { ContainerJob, jobContainers, stepTarget, toContainerPath, type AgentDirs, type ContainerInfo, type ContainerJobMessage } from './containers.js';
import { runProcess } from './docker.js';
import { USER_AGENT } from './configure.js';
import { AGENT_VERSION, files, loadOrCreateKey, readJson, type AgentSettings, type OAuthData } from './settings.js';

/** The real agent's return codes (Constants.Agent.ReturnCode). */
export const ReturnCode = { Success: 0, TerminatedError: 1, RetryableError: 2, AgentUpdating: 3, RunOnceAgentUpdating: 4 } as const;

const RENEW_INTERVAL_MS = 60_000;
const HTTP_TIMEOUT_MS = 100_000;
const KILL_GRACE_MS = 5_000;
const SESSION_CONFLICT_RETRY_MS = 30_000;
const SESSION_CONFLICT_GIVE_UP_MS = 4 * 60_000;

interface JobMessage extends ContainerJobMessage {
  jobId: string;
  jobDisplayName: string;
  requestId: number;
  plan: { scopeIdentifier: string; planId: string; planType: string };
  variables: Record<string, { value?: string; isSecret?: boolean }>;
  steps: { type: string; displayName?: string; reference?: { name?: string }; inputs?: Record<string, string>; target?: { target?: string } }[];
}

type Result = 'succeeded' | 'failed' | 'canceled';

interface RunningJob {
  message: JobMessage;
  child?: ChildProcess;
  canceled: boolean;
  done: Promise<void>;
}

/** Knob for tests: the pause after an empty poll or an error (the real agent waits 5–15 s, 15–30 s after errors). */
function backoffMs(errorRange: boolean): number {
  const override = Number(process.env.AGENT_DOUBLE_POLL_BACKOFF_MS);
  if (Number.isFinite(override) && override >= 0 && process.env.AGENT_DOUBLE_POLL_BACKOFF_MS !== undefined) return override;
  const [low, high] = errorRange ? [15_000, 30_000] : [5_000, 15_000];
  return low + Math.random() * (high - low);
}

const sleep = (ms: number, signal: AbortSignal) => new Promise<void>((resolve) => {
  const timer = setTimeout(resolve, ms);
  signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
});

const stamp = () => new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');

export class Listener {
  private readonly settings: AgentSettings;
  private readonly client: VssClient;
  private readonly shutdown = new AbortController();
  private sessionId?: string;
  private job?: RunningJob;
  private jobsRun = 0;
  /**
   * An update message for a newer version arrived: the agent exits to update once its job ends (at once when idle: the
   * double downloads nothing, so the real agent's window in which a job message stays undeleted does not arise).
   */
  private updating = false;

  constructor(private readonly root: string, private readonly once: boolean, private readonly log: (line: string) => void) {
    this.settings = readJson<AgentSettings>(files(root).agent);
    const credentials = readJson<OAuthData>(files(root).credentials);
    this.client = new VssClient(this.settings.serverUrl, { kind: 'oauth', ...credentials.data, key: loadOrCreateKey(root) }, USER_AGENT);
  }

  /** SIGTERM / SIGINT: stop polling; a running job is killed and finished as canceled; the session is deleted; exit 0. */
  stop(): void {
    if (this.shutdown.signal.aborted) return;
    this.log(`${stamp()}: Agent shutdown requested.`);
    this.shutdown.abort();
    if (this.job) this.cancelJob(this.job);
  }

  async run(): Promise<number> {
    try {
      await this.client.connect(this.shutdown.signal);
      if (!(await this.createSession())) return this.shutdown.signal.aborted ? ReturnCode.Success : ReturnCode.TerminatedError;
      this.log(`${stamp()}: Listening for Jobs`);
      const code = await this.pollLoop();
      if (this.job) await this.job.done;
      await this.deleteSession();
      return code;
    } catch (error) {
      if (this.shutdown.signal.aborted) {
        if (this.job) await this.job.done;
        await this.deleteSession();
        return ReturnCode.Success;
      }
      this.log(`${stamp()}: ${(error as Error).message}`);
      await this.deleteSession();
      return error instanceof VssHttpError && terminal(error) ? ReturnCode.TerminatedError : ReturnCode.RetryableError;
    }
  }

  private async createSession(): Promise<boolean> {
    const started = Date.now();
    const body = {
      sessionId: '00000000-0000-0000-0000-000000000000', ownerName: hostname(),
      agent: { id: this.settings.agentId, name: this.settings.agentName, version: AGENT_VERSION, osDescription: 'Linux', status: 0, provisioningState: null },
      systemCapabilities: systemCapabilities(process.env, this.settings.agentName, AGENT_VERSION, this.root),
    };
    for (;;) {
      try {
        const session = await this.client.send<{ sessionId: string }>('POST', LOCATION.sessions, { routeValues: { poolId: this.settings.poolId }, body, signal: this.shutdown.signal });
        this.sessionId = session?.sessionId;
        return true;
      } catch (error) {
        if (this.shutdown.signal.aborted) return false;
        if (error instanceof VssHttpError && terminal(error)) {
          this.log(`${stamp()}: ${error.typeKey === 'TaskAgentNotFoundException' ? 'The agent no longer exists on the server' : 'Session creation refused'}: ${error.message}`);
          return false;
        }
        const conflict = error instanceof VssHttpError && error.typeKey === 'TaskAgentSessionConflictException';
        if (conflict) {
          this.log(`${stamp()}: A session for this agent already exists.`);
          if (Date.now() - started > SESSION_CONFLICT_GIVE_UP_MS) return false;
        }
        await sleep(conflict ? SESSION_CONFLICT_RETRY_MS : backoffMs(true), this.shutdown.signal);
      }
    }
  }

  private async deleteSession(): Promise<void> {
    if (!this.sessionId) return;
    const sessionId = this.sessionId;
    this.sessionId = undefined;
    try {
      await this.client.send('DELETE', LOCATION.sessions, { routeValues: { poolId: this.settings.poolId, sessionId }, signal: AbortSignal.timeout(30_000) });
    } catch (error) {
      this.log(`${stamp()}: Could not delete the session: ${(error as Error).message}`);
    }
  }

  private async pollLoop(): Promise<number> {
    let lastMessageId: number | undefined;
    while (!this.shutdown.signal.aborted) {
      if (this.updating && !this.job) {
        // The double cannot download a package: it ends as the agent does once its update is ready to apply.
        this.log(`${stamp()}: Agent update ready to apply: exiting.`);
        return this.once ? ReturnCode.RunOnceAgentUpdating : ReturnCode.AgentUpdating;
      }
      if (this.once && this.jobsRun > 0 && !this.job) return ReturnCode.Success;
      const poll = new AbortController();
      const stopPoll = () => poll.abort();
      this.shutdown.signal.addEventListener('abort', stopPoll, { once: true });
      void this.job?.done.then(stopPoll);
      let message: { messageId: number; messageType: string; body: string } | undefined;
      try {
        message = await this.client.send('GET', LOCATION.messages, {
          routeValues: { poolId: this.settings.poolId }, query: { sessionId: this.sessionId, lastMessageId },
          signal: AbortSignal.any([poll.signal, AbortSignal.timeout(HTTP_TIMEOUT_MS)]),
        });
      } catch (error) {
        if (poll.signal.aborted) continue;
        if (error instanceof VssHttpError && error.typeKey === 'TaskAgentSessionExpiredException') {
          this.log(`${stamp()}: The session expired; creating a new one.`);
          if (!(await this.createSession())) return this.shutdown.signal.aborted ? ReturnCode.Success : ReturnCode.TerminatedError;
          continue;
        }
        if (error instanceof VssHttpError && terminal(error)) throw error;
        this.log(`${stamp()}: Polling failed (${(error as Error).message}); backing off.`);
        await sleep(backoffMs(true), this.shutdown.signal);
        continue;
      } finally {
        this.shutdown.signal.removeEventListener('abort', stopPoll);
      }
      if (!message) {
        await sleep(backoffMs(false), this.shutdown.signal);
        continue;
      }
      lastMessageId = message.messageId;
      await this.handle(message);
    }
    return ReturnCode.Success;
  }

  private async handle(message: { messageId: number; messageType: string; body: string }): Promise<void> {
    const type = message.messageType.toLowerCase();
    if (type === 'pipelineagentjobrequest' || type === 'jobrequest') {
      // --once takes one job; a further job message stays undeleted so the server can hand it elsewhere.
      if (this.job || (this.once && this.jobsRun > 0)) return;
      await this.deleteMessage(message.messageId);
      this.startJob(JSON.parse(message.body) as JobMessage);
      return;
    }
    await this.deleteMessage(message.messageId);
    if (type === 'agentrefresh') {
      // Agent.cs: any value of the agent.disableupdate variable turns updates off; otherwise SelfUpdater acts on a
      // target version newer than its own.
      const { targetVersion } = JSON.parse(message.body) as { targetVersion: string };
      if (process.env['agent.disableupdate']) {
        this.log(`${stamp()}: Refresh message received but skipping autoupdate since agent.disableupdate is set.`);
      } else if (newerVersion(targetVersion, AGENT_VERSION)) {
        this.log(`${stamp()}: Agent update handling - Self-update task initiated, target version: ${targetVersion}`);
        this.updating = true;
      } else {
        this.log(`${stamp()}: Agent update handling - already at ${AGENT_VERSION}, no update to ${targetVersion}.`);
      }
      return;
    }
    if (type === 'jobcancellation') {
      const { jobId } = JSON.parse(message.body) as { jobId: string };
      if (this.job && this.job.message.jobId === jobId) this.cancelJob(this.job);
    }
  }

  private async deleteMessage(messageId: number): Promise<void> {
    await this.client.send('DELETE', LOCATION.messages, {
      routeValues: { poolId: this.settings.poolId, messageId }, query: { sessionId: this.sessionId }, signal: AbortSignal.timeout(30_000),
    });
  }

  private startJob(message: JobMessage): void {
    this.jobsRun++;
    const job: RunningJob = { message, canceled: false, done: Promise.resolve() };
    job.done = this.runJob(job).finally(() => {
      this.job = undefined;
    });
    this.job = job;
  }

  private cancelJob(job: RunningJob): void {
    job.canceled = true;
    const pid = job.child?.pid;
    if (pid === undefined) return;
    const signalGroup = (signal: NodeJS.Signals) => {
      try { process.kill(-pid, signal); } catch { /* already gone */ }
    };
    signalGroup('SIGTERM');
    setTimeout(() => signalGroup('SIGKILL'), KILL_GRACE_MS).unref();
  }

  private async renew(requestId: number): Promise<void> {
    await this.client.send('PATCH', LOCATION.jobrequests, {
      routeValues: { poolId: this.settings.poolId, requestId }, query: { lockToken: '00000000-0000-0000-0000-000000000000' }, body: { requestId },
    });
  }

  private async runJob(job: RunningJob): Promise<void> {
    const { message } = job;
    this.log(`${stamp()}: Running job: ${message.jobDisplayName}`);
    const lines: string[] = [];
    const write = (text: string) => lines.push(`${new Date().toISOString()} ${text}`);
    let result: Result = 'failed';
    let renewal: NodeJS.Timeout | undefined;
    try {
      let renewed = false;
      for (let attempt = 0; attempt < 5 && !renewed; attempt++) {
        try {
          await this.renew(message.requestId);
          renewed = true;
        } catch (error) {
          if (error instanceof VssHttpError && /JobNotFound|JobTokenExpired/.test(error.typeKey)) throw error;
          await new Promise((resolve) => setTimeout(resolve, 1000 + attempt * 2000));
        }
      }
      if (!renewed) throw new Error('Could not renew the job lock.');
      renewal = setInterval(() => { this.renew(message.requestId).catch(() => undefined); }, RENEW_INTERVAL_MS);
      result = job.canceled ? 'canceled' : await this.runSteps(job, write);
    } catch (error) {
      write(`##[error]${(error as Error).message}`);
      result = job.canceled ? 'canceled' : 'failed';
    } finally {
      clearInterval(renewal);
    }
    if (job.canceled) result = 'canceled';
    await this.uploadLog(message, lines);
    await this.finish(message.requestId, result);
    this.log(`${stamp()}: Job ${message.jobDisplayName} completed with result: ${result[0].toUpperCase()}${result.slice(1)}`);
  }

  /**
   * Runs each CmdLine step's script with bash in a fresh build directory, in its own process group: on the host, or in
   * its target container. A job with containers starts them first and always stops them last, as the agent's
   * "Initialize containers" and "Stop Containers" steps do (JobExtension).
   */
  private async runSteps(job: RunningJob, write: (text: string) => void): Promise<Result> {
    const work = this.settings.workFolder;
    mkdirSync(work, { recursive: true });
    let number = 1;
    while (!tryMkdir(join(work, String(number)))) number++;
    const buildDir = join(work, String(number));
    const sources = join(buildDir, 's');
    const temp = join(work, '_temp');
    for (const dir of [sources, join(buildDir, 'a'), join(buildDir, 'b'), temp]) mkdirSync(dir, { recursive: true });
    const variables: Record<string, string> = {};
    for (const [name, variable] of Object.entries(job.message.variables)) variables[name] = variable.value ?? '';
    Object.assign(variables, {
      TF_BUILD: 'True', AGENT_NAME: this.settings.agentName, AGENT_ID: String(this.settings.agentId), AGENT_WORKFOLDER: work,
      AGENT_BUILDDIRECTORY: buildDir, AGENT_TEMPDIRECTORY: temp, AGENT_HOMEDIRECTORY: this.root, BUILD_SOURCESDIRECTORY: sources,
      SYSTEM_DEFAULTWORKINGDIRECTORY: sources, SYSTEM_COLLECTIONURI: `${this.settings.serverUrl}/`,
      SYSTEM_TEAMFOUNDATIONCOLLECTIONURI: `${this.settings.serverUrl}/`, SYSTEM_JOBID: job.message.jobId,
    });
    const dirs = { root: this.root, work, tools: process.env.AGENT_TOOLSDIRECTORY || join(work, '_tool'), buildDir };
    const { containers, defaultTarget } = jobContainers(job.message);
    if (containers.length === 0) return this.runStepList(job, write, { variables, dirs, sources });
    const log = { command: (line: string) => write(`##[command]${line}`), output: write, warning: (line: string) => write(`##[warning]${line}`) };
    const containerJob = new ContainerJob(containers, job.message.resources.endpoints, dirs, log);
    for (const dir of [join(work, '_tasks'), dirs.tools]) mkdirSync(dir, { recursive: true });
    try {
      write('##[section]Starting: Initialize containers');
      await containerJob.start();
      write('##[section]Finishing: Initialize containers');
      Object.assign(variables, containerJob.variables);
      return await this.runStepList(job, write, { variables, dirs, sources, containerJob, containers, defaultTarget });
    } finally {
      write('##[section]Starting: Stop Containers');
      await containerJob.stop();
      write('##[section]Finishing: Stop Containers');
    }
  }

  private async runStepList(job: RunningJob, write: (text: string) => void, context: {
    variables: Record<string, string>; dirs: AgentDirs; sources: string;
    containerJob?: ContainerJob; containers?: ContainerInfo[]; defaultTarget?: ContainerInfo;
  }): Promise<Result> {
    const { variables, dirs, sources, containerJob } = context;
    // Job variables become environment variables (upper case, '.' → '_'), as the agent gives them to a step.
    const asEnv = (translate: (value: string) => string) => Object.fromEntries(Object.entries(variables).map(([name, value]) => [name.replace(/\./g, '_').toUpperCase(), translate(value)]));
    const options = {
      onLine: (line: string) => { write(line); this.log(line); },
      onChild: (child: ChildProcess) => {
        job.child = child;
        if (job.canceled) this.cancelJob(job);
      },
    };
    for (const step of job.message.steps) {
      if (job.canceled) return 'canceled';
      if (step.reference?.name !== 'CmdLine' || step.inputs?.script === undefined) {
        write(`##[error]The agent double only runs CmdLine steps; got ${step.reference?.name ?? step.type}.`);
        return 'failed';
      }
      write(`##[section]Starting: ${step.displayName ?? 'Script'}`);
      const file = join(dirs.work, '_temp', `${randomUUID()}.sh`);
      writeFileSync(file, step.inputs.script);
      const container = containerJob && stepTarget(step.target?.target, context.containers ?? [], context.defaultTarget);
      const code = container
        ? await containerJob.runStep(container, {
          handler: 'bash', args: toContainerPath(file, dirs), workDir: toContainerPath(sources, dirs), environment: asEnv((value) => toContainerPath(value, dirs)),
        }, options)
        : (await runProcess('bash', ['--noprofile', '--norc', file], { cwd: sources, env: { ...process.env, ...asEnv((value) => value) }, ...options })).code;
      job.child = undefined;
      if (job.canceled) return 'canceled';
      if (code !== 0) {
        write(`##[error]Bash exited with code '${code}'.`);
        return 'failed';
      }
      write(`##[section]Finishing: ${step.displayName ?? 'Script'}`);
    }
    return 'succeeded';
  }

  /** Plan log routes with the job's own token (the worker's SystemVssConnection), unless --disableloguploads. */
  private async uploadLog(message: JobMessage, lines: string[]): Promise<void> {
    if (this.settings.disableLogUploads) {
      const dir = join(this.root, '_diag', 'pages');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${message.jobId}.log`), lines.join('\n') + '\n');
      return;
    }
    const token = message.resources.endpoints.find((endpoint) => endpoint.name === 'SystemVssConnection')?.authorization?.parameters?.AccessToken;
    if (!token) return;
    const jobClient = this.client.withCredential({ kind: 'bearer', token });
    const route = { scopeIdentifier: message.plan.scopeIdentifier, hubName: message.plan.planType.toLowerCase(), planId: message.plan.planId };
    try {
      const log = await jobClient.send<{ id: number }>('POST', LOCATION.logs, { routeValues: route, body: { path: 'logs\\1' } });
      if (log) await jobClient.send('POST', LOCATION.logs, { routeValues: { ...route, logId: log.id }, text: lines.join('\n') + '\n' });
    } catch (error) {
      this.log(`${stamp()}: Log upload failed: ${(error as Error).message}`);
    }
  }

  private async finish(requestId: number, result: Result): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await this.client.send('PATCH', LOCATION.jobrequests, {
          routeValues: { poolId: this.settings.poolId, requestId }, query: { lockToken: '00000000-0000-0000-0000-000000000000' },
          body: { requestId, finishTime: new Date().toISOString(), result },
        });
        return;
      } catch (error) {
        if (error instanceof VssHttpError && /JobNotFound|JobTokenExpired/.test(error.typeKey)) return;
        await new Promise((resolve) => setTimeout(resolve, 5000));
      }
    }
  }
}

function tryMkdir(path: string): boolean {
  try {
    mkdirSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Errors after which the real agent stops instead of retrying. */
function terminal(error: VssHttpError): boolean {
  return ['TaskAgentNotFoundException', 'TaskAgentPoolNotFoundException', 'AccessDeniedException', 'VssUnauthorizedException',
    'UnauthorizedRequestException', 'VssOAuthTokenRequestException'].includes(error.typeKey);
}

/** Whether dotted version `a` is newer than `b` (as the agent's PackageVersion compares them). */
export function newerVersion(a: string, b: string): boolean {
  const parts = (version: string) => version.split('.').map((part) => Number.parseInt(part, 10) || 0);
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) > (y[i] ?? 0);
  return false;
}
