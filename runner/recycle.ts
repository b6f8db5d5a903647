// `recycle`: the sidecar that gives each job a fresh pod on clusters without container restart rules
// (docs/fresh-pod-per-job.md). The agent container leaves job-done in the volume it shares with this sidecar; the
// sidecar alone holds a Kubernetes token, allowed to delete the pool's pods, and deletes its own pod with the pod's UID
// as a precondition, so that a successor with the same name is never hit. The StatefulSet then makes a fresh pod.
import { constants, existsSync, lstatSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { accessible, SettingError, type Log } from './settings.js';

export interface RecycleSettings {
  /** The volume shared with the agent container, where it leaves job-done. */
  recycleDir: string;
  /** A projected service account token and the cluster's CA, for this container alone. */
  tokenFile: string;
  caFile: string;
  podName: string;
  podUid: string;
  /** The pod's URL on the API server. */
  podUrl: string;
}

const isDirectory = (path: string) => existsSync(path) && statSync(path).isDirectory();
const isReadable = (path: string) => accessible(path, constants.R_OK, 'file');

/** The sidecar's settings from its environment (the downward API, the projected volume), or a SettingError. */
export function readRecycleSettings(env: NodeJS.ProcessEnv): RecycleSettings {
  const recycleDir = env.AZP_RECYCLE_DIR ?? '';
  const credentials = env.AZP_RECYCLE_CREDENTIAL_DIR ?? '';
  if (!isDirectory(recycleDir)) throw new SettingError(`AZP_RECYCLE_DIR='${recycleDir}' is not a directory (the volume shared with the agent container)`);
  const tokenFile = join(credentials, 'token');
  const caFile = join(credentials, 'ca.crt');
  if (credentials === '' || !isReadable(tokenFile) || !isReadable(caFile)) {
    throw new SettingError(`AZP_RECYCLE_CREDENTIAL_DIR='${credentials}' holds no readable token and ca.crt (a projected service account token)`);
  }
  const { RUNNER_POD_NAME: podName, RUNNER_POD_UID: podUid, RUNNER_NAMESPACE: namespace } = env;
  if (!podName || !podUid || !namespace) throw new SettingError('recycle mode needs RUNNER_POD_NAME, RUNNER_POD_UID and RUNNER_NAMESPACE (from the downward API)');
  const host = env.KUBERNETES_SERVICE_HOST;
  if (!host) throw new SettingError('KUBERNETES_SERVICE_HOST is not set: recycle mode runs in a Kubernetes pod');
  const authority = `${host.includes(':') ? `[${host}]` : host}:${env.KUBERNETES_SERVICE_PORT || '443'}`;
  const podUrl = `https://${authority}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(podName)}`;
  return { recycleDir, tokenFile, caFile, podName, podUid, podUrl };
}

/** An answer of the API server: its status (0: none) and the start of its body, for the log. */
export interface Answer {
  status: number;
  body: string;
}

export interface RecycleIo {
  jobDone(): boolean;
  /** The agent container asks whether its agent may start (the agent-start request of `runner.js run` or start.ps1). */
  startRequested(): boolean;
  /** Lets it start: the request is answered by taking it away. */
  allowStart(): void;
  /** DELETE of the pod with a UID precondition; the token is read again for every attempt (it rotates). */
  deletePod(): Promise<Answer>;
  sleep(ms: number): Promise<void>;
  log: Log;
  error: Log;
}

/** The hand-off's files in the volume the agent container shares with the sidecar. */
export const recycleFiles = {
  /** The agent container's request to start its agent; the sidecar answers by taking it away. */
  agentStart: 'agent-start',
  /** The agent ran its job: the pod is done. */
  jobDone: 'job-done',
} as const;

/**
 * Whether the shared volume holds `name`, whatever it is: a link a job planted counts as the file itself (followed, a
 * link to the work volume, which this sidecar does not mount, would hide a request or the job's end from it).
 */
export function handOffPresent(dir: string, name: string): boolean {
  try {
    lstatSync(join(dir, name));
    return true;
  } catch {
    return false;
  }
}

/** Leaves `name` in the shared volume as a file of its own: whatever a job put there first (a link) is replaced, never followed. */
export function leaveHandOff(dir: string, name: string): void {
  rmSync(join(dir, name), { force: true, recursive: true });
  writeFileSync(join(dir, name), '', { flag: 'wx' });
}

export interface StartRequestIo {
  request(): void;
  answered(): boolean;
  sleep(ms: number): Promise<void>;
}

/** How long the agent container waits for the sidecar's answer before it gives up (exit code 78). */
const startAnswerMs = 60_000;

/**
 * The agent container's side, before its agent starts (`runner.js run`, or `recycle-start` for start.ps1): asks the
 * sidecar and waits for its answer. Should this container ever start again, the sidecar deletes the pod instead of
 * answering (below).
 */
export async function awaitStartAllowed(io: StartRequestIo): Promise<void> {
  io.request();
  for (let waited = 0; !io.answered(); waited += 100) {
    if (waited >= startAnswerMs) throw new SettingError(`the recycle sidecar did not answer within ${startAnswerMs / 1000} s that the agent may start`);
    await io.sleep(100);
  }
}

/** After a failed delete, the wait before the next attempt: 2 s, doubling, then a minute. */
export function nextDelay(seconds: number): number {
  return seconds < 30 ? seconds * 2 : 60;
}

/**
 * Why this pod must go, once it must: its agent's job is done, or the agent container started again after its agent
 * had started (a job ended it; the pod's restart policy restarts the container in place, with the pod's volumes).
 * This container keeps the fact that the agent started, where no job of the agent's container can reach it.
 */
async function untilPodDone(io: RecycleIo): Promise<string> {
  let agentStarted = false;
  for (;;) {
    if (io.jobDone()) return 'the agent\'s job is done';
    if (io.startRequested()) {
      if (agentStarted) return 'the agent container started again after its agent had run';
      agentStarted = true;
      io.allowStart();
      io.log('the agent starts: from now on this pod ends with its job, however the agent exits');
    }
    // Quickly while the agent waits to start: its start waits for this answer.
    await io.sleep(agentStarted ? 500 : 100);
  }
}

/** Waits until the pod is done, then deletes it, retrying until the API server accepts or says it's gone. */
export async function recycleWhenDone(settings: RecycleSettings, io: RecycleIo): Promise<void> {
  const reason = await untilPodDone(io);
  io.log(`${reason}: deleting pod ${settings.podName} so that the next job gets a fresh one`);
  for (let delay = 2; ; delay = nextDelay(delay)) {
    const { status, body } = await io.deletePod();
    if (status === 200 || status === 202) {
      io.log('pod deletion accepted');
      return;
    }
    if (status === 404 || status === 409) {
      io.log(`the pod is already gone or replaced (HTTP ${status})`);
      return;
    }
    io.error(`deleting pod ${settings.podName} failed (HTTP ${String(status).padStart(3, '0')}): ${body.slice(0, 400)}`);
    await io.sleep(delay * 1000);
  }
}

/** The API server's answer to deleting this pod, by UID only; no answer (a network error) is status 0. */
export function deletePodOverHttps(settings: RecycleSettings): Promise<Answer> {
  const payload = JSON.stringify({ apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: settings.podUid } });
  return new Promise((resolve) => {
    let token: string;
    let ca: string;
    try {
      token = readFileSync(settings.tokenFile, 'utf8').trim();
      ca = readFileSync(settings.caFile, 'utf8');
    } catch (error) {
      resolve({ status: 0, body: (error as Error).message });
      return;
    }
    const req = request(settings.podUrl, {
      method: 'DELETE',
      ca,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      timeout: 30_000,
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < 400) body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', (error) => resolve({ status: 0, body: error.message }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', (error) => resolve({ status: 0, body: error.message }));
    req.end(payload);
  });
}
