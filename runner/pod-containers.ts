// dockerMode podContainers: what a runner pod offers the agent's container jobs, as its manifest declares it in one
// setting (AZP_POD_CONTAINERS, JSON), and the pure rules the `docker` shim applies with it: which sibling container a
// requested image maps to, and whether a mount the agent asks for is one the pod gives (docs/container-jobs.md).
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { normalizeImage } from '../src/core/index.js';
import { SettingError } from './settings.js';

export const settingName = 'AZP_POD_CONTAINERS';

/** A container declared in the runner's pod beside the agent. */
export interface Sibling {
  /** The container's name in the pod; a job container's exec helper listens on `<socketDir>/<name>.sock`. */
  name: string;
  image: string;
  /** `job`: runs the job's steps through its exec helper; `service`: runs its image's own command (a database, a cache). */
  role: 'job' | 'service';
  /** A service's host names (the pod's hostAliases, to 127.0.0.1): the `services:` keys a job may give it. */
  aliases: string[];
}

export interface PodContainers {
  /** The agent's root (its externals are shared at /__a/externals). */
  agentDir: string;
  /** The agent's work folder, shared at /__w. */
  workDir: string;
  /** The agent's tool folder (AGENT_TOOLSDIRECTORY), shared at /__t; by default the work folder's _tool. */
  toolDir: string;
  /** The volume shared with the job containers' exec helpers, holding their sockets. */
  socketDir: string;
  /** The shim's own record of the job's containers, in the agent's container only. */
  stateFile: string;
  containers: Sibling[];
}

/**
 * The setting's format, e.g.
 * `{"agentDir":"/azp/agent","socketDir":"/azp/pod-containers","containers":[{"name":"build","image":"debian:12"},
 *   {"name":"redis","image":"redis:7","role":"service"}]}`;
 * `workDir` defaults to `<agentDir>/_work`, `toolDir` to `<workDir>/_tool`, `stateFile` to a file in the temporary
 * folder, `role` to `job`, a service's `aliases` to its name.
 */
export function readPodContainers(env: NodeJS.ProcessEnv): PodContainers {
  const text = env[settingName];
  const fail = (why: string) => new SettingError(`${settingName} ${why} (set by the runner pod's manifest for dockerMode podContainers)`);
  if (!text) throw fail('is not set');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (caught) {
    throw fail(`is not JSON: ${(caught as Error).message}`);
  }
  const object = (raw ?? {}) as Record<string, unknown>;
  const path = (key: string, value = object[key]) => {
    if (typeof value !== 'string' || !posix.isAbsolute(value)) throw fail(`needs ${key}, an absolute path`);
    return posix.normalize(value).replace(/\/$/, '');
  };
  const agentDir = path('agentDir');
  const workDir = path('workDir', object.workDir ?? `${agentDir}/_work`);
  const toolDir = path('toolDir', object.toolDir ?? `${workDir}/_tool`);
  const socketDir = path('socketDir');
  const stateFile = path('stateFile', object.stateFile ?? join(tmpdir(), 'azp-pod-containers.json'));
  if (!Array.isArray(object.containers) || object.containers.length === 0) throw fail('needs containers, a non-empty list');
  const containers = object.containers.map((entry: Record<string, unknown>, i): Sibling => {
    const { name, image, role = 'job', aliases = [name] } = entry ?? {};
    if (typeof name !== 'string' || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name)) throw fail(`containers[${i}].name must be a container name (lower-case letters, digits, '-')`);
    if (typeof image !== 'string' || image === '') throw fail(`containers[${i}].image is missing`);
    if (role !== 'job' && role !== 'service') throw fail(`containers[${i}].role must be job or service`);
    if (!Array.isArray(aliases) || !aliases.every((alias) => typeof alias === 'string' && alias)) throw fail(`containers[${i}].aliases must be a list of host names`);
    return { name, image: normalizeImage(image), role, aliases: aliases as string[] };
  });
  for (const [i, sibling] of containers.entries()) {
    if (containers.findIndex((other) => other.name === sibling.name) !== i) throw fail(`names container ${sibling.name} twice`);
    if (containers.findIndex((other) => other.image === sibling.image) !== i) throw fail(`offers image ${sibling.image} twice`);
  }
  return { agentDir, workDir, toolDir, socketDir, stateFile, containers };
}

/** One line naming what the pod offers, for a job that asked for something else. */
export function describeOffer(pod: PodContainers): string {
  return pod.containers.map((c) => `${c.image} (${c.role === 'job' ? 'container' : `service ${c.aliases.join('/')}`})`).join(', ');
}

/** The sibling that offers `image`, or an error whose message says what the runner offers instead. */
export function siblingFor(pod: PodContainers, image: string, role?: Sibling['role']): Sibling {
  const wanted = normalizeImage(image);
  const sibling = pod.containers.find((c) => c.image === wanted);
  if (!sibling) throw new Error(`the image ${image} is not offered by this runner (dockerMode podContainers); it offers ${describeOffer(pod)}`);
  if (role && sibling.role !== role) throw new Error(`the image ${image} is offered by this runner as a ${sibling.role === 'job' ? 'job container' : 'service'}, not as a ${role === 'job' ? 'job container' : 'service'}; it offers ${describeOffer(pod)}`);
  return sibling;
}

/** What the pod's volumes give every job container: the agent's folder, and the path the siblings mount it at. */
export function podMounts(pod: PodContainers): { agent: string; container: string }[] {
  return [
    { agent: pod.toolDir, container: '/__t' },
    { agent: pod.workDir, container: '/__w' },
    { agent: `${pod.agentDir}/externals`, container: '/__a/externals' },
  ];
}

/**
 * A `create -v [source:]target[:ro|:rw]` the pod already gives (the agent's own mounts: `_work/N`, `_temp`, `_tasks`,
 * `_tool`, externals, `.taskkey`), or an error naming what it gives: the siblings' volumes are fixed by the pod.
 */
export function checkMount(pod: PodContainers, volume: string): void {
  const [source, target] = volume.replace(/:(ro|rw)$/i, '').split(':');
  const given = podMounts(pod);
  const fits = target !== undefined && given.some(({ agent, container }) =>
    (source === agent || source.startsWith(`${agent}/`)) && target === container + source.slice(agent.length));
  if (fits) return;
  const offer = given.map(({ agent, container }) => `${agent} at ${container}`).join(', ');
  if (target === '/var/run/docker.sock') throw new Error('the job asks for the Docker socket (mapDockerSocket), but dockerMode podContainers has no Docker engine');
  throw new Error(`the job asks to mount ${target === undefined ? `a volume at ${source}` : `${source} at ${target}`}, but a podContainers runner's containers share only ${offer}`);
}
