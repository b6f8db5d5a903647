// dockerMode podContainers (pure): the containers DeployRunnerPool's `jobContainers` and `serviceContainers` offer
// container jobs, one `name=image` a line with optional resources (services also host names, env and when they are
// ready), every problem collected.
import type { InputReader } from './inputs.js';
import { dnsLabelProblem, dnsSubdomainProblem, envNameProblem, imageReferenceProblem, normalizeImage, quantityProblem, requestsAboveLimits } from './kube-syntax.js';
import { runnerContainerNames } from './manifests/runner-pod.js';
import type { DockerMode, OfferedContainer, ReadyProbe, ResourceSettings } from './model.js';

/** `key=value` as its two sides; no `=`: the whole text and no value. */
function splitAtEquals(text: string): [string, string | undefined] {
  const at = text.indexOf('=');
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}

const inputOf = { job: 'jobContainers', service: 'serviceContainers' } as const;
const resourceKeys = ['cpuRequest', 'memoryRequest', 'cpuLimit', 'memoryLimit'] as const;
const serviceKeys = ['aliases', 'envFrom', 'env.NAME', 'ready', 'readyTimeout'] as const;
const envPrefix = 'env.';

/**
 * How long a service may take to pass its `ready=` probe (seconds, `readyTimeout=`): by default 5 minutes, long enough
 * for a database's first start on a busy node; at most an hour, beyond which the number is more likely a typo.
 */
export const readyTimeoutSeconds = { default: 300, max: 3600 } as const;

/** Control characters shown as `\uXXXX`: a problem that quotes them stays one plain line. */
const visible = (text: string) => text.replace(/\p{Cc}/gu, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** The options whose values cannot be secrets, so a problem may show them. */
const shownKeys: readonly string[] = [...resourceKeys, 'aliases', 'envFrom', 'ready', 'readyTimeout'];

/**
 * An option as a problem shows it: a value that may be a secret (any key but shownKeys', since a mistyped `env.` is
 * still the user's secret) and a word without `=` (the rest of a value with a space, maybe) as `…`.
 */
function quotedOption(option: string): string {
  const [key, value] = splitAtEquals(option);
  if (value === undefined) return '…';
  return shownKeys.includes(key) ? option : `${key}=…`;
}

/** A line as a problem quotes it: its first word (name=image) as given, each option as quotedOption shows it. */
const quoted = (text: string) => visible(text.replace(/\S+/g, (word, at: number) => (at === 0 ? word : quotedOption(word))));

/**
 * `ready=`'s probe, or what is wrong with it. The kubelet probes the pod's own address, so no form names a host. An
 * exec command is split on commas, since the line is split on spaces: an argument holds neither.
 */
function readyProbe(value: string): { probe: ReadyProbe } | { problem: string } {
  const colon = value.indexOf(':');
  const [kind, rest] = colon < 0 ? [value, ''] : [value.slice(0, colon), value.slice(colon + 1)];
  const port = (text: string) => (/^[1-9][0-9]{0,4}$/.test(text) && Number(text) <= 65535 ? Number(text) : undefined);
  const portProblem = (text: string) => ({ problem: `ready=: the port must be a number from 1 to 65535; got '${visible(text)}'` });
  if (colon >= 0 && kind === 'tcp') {
    const tcp = port(rest);
    return tcp === undefined ? portProblem(rest) : { probe: { kind: 'tcp', port: tcp } };
  }
  if (colon >= 0 && kind === 'http') {
    const slash = rest.indexOf('/');
    const [portText, path] = slash < 0 ? [rest, '/'] : [rest.slice(0, slash), rest.slice(slash)];
    const http = port(portText);
    if (http === undefined) return portProblem(portText);
    if (!/^\/[\x21-\x7e]*$/.test(path)) return { problem: `ready=: the path must be printable ASCII without spaces, starting with /; got '${visible(path)}'` };
    return { probe: { kind: 'http', port: http, path } };
  }
  if (colon >= 0 && kind === 'exec') {
    if (rest === '') return { problem: 'ready=: exec: needs a command' };
    if (/\p{Cc}/u.test(rest)) return { problem: 'ready=: exec: the command holds a control character' };
    const command = rest.split(',');
    if (command.includes('')) return { problem: `ready=: exec: an empty argument (two commas in a row, or one at either end) in '${rest}'` };
    return { probe: { kind: 'exec', command } };
  }
  return { problem: `ready= must be tcp:<port>, http:<port>[/path] or exec:<command>[,<argument>…]; got '${visible(value)}'` };
}

/** `readyTimeout=`'s seconds, or undefined when it is not a whole number in range. */
function readyTimeout(value: string): number | undefined {
  return /^[1-9][0-9]*$/.test(value) && Number(value) <= readyTimeoutSeconds.max ? Number(value) : undefined;
}

interface Line {
  container: OfferedContainer;
  /** Reports a problem of this line, naming its input and its number. */
  problem: (message: string) => void;
}

/** One input's lines; a line with a problem is reported and left out. */
function readLines(inputs: InputReader, role: OfferedContainer['role']): Line[] {
  const input = inputOf[role];
  const lines: Line[] = [];
  (inputs.optional(input) ?? '').split(/\r?\n/).forEach((raw, index) => {
    const text = raw.trim();
    if (text === '' || text.startsWith('#')) return;
    const problems: string[] = [];
    const problem = (message: string) => inputs.problem(input, `line ${index + 1} ('${quoted(text)}'): ${message}.`);
    const [first, ...options] = text.split(/\s+/);
    const [name, image = ''] = splitAtEquals(first);
    if (!first.includes('=')) problems.push(`must start with name=image, such as ${role === 'job' ? 'build=debian:12' : 'redis=redis:7'}`);
    else {
      const nameProblem = dnsLabelProblem(name);
      if (nameProblem) problems.push(`the name ${nameProblem}`);
      else if ((runnerContainerNames as readonly string[]).includes(name)) problems.push(`the name ${name} is the runner's own container's (${runnerContainerNames.join(', ')} are taken)`);
      const imageProblem = imageReferenceProblem(image);
      if (imageProblem) problems.push(`the image ${imageProblem}`);
    }
    const resources: ResourceSettings = {};
    let aliases: string[] = [];
    const env: Record<string, string> = {};
    const envFrom: string[] = [];
    let probe: ReadyProbe | undefined;
    let timeoutSeconds: number = readyTimeoutSeconds.default;
    const given = new Set<string>();
    for (const option of options) {
      const [key, value = ''] = splitAtEquals(option);
      const twice = (key === 'ready' || key === 'readyTimeout') && given.has(key);
      given.add(key);
      const resource = resourceKeys.find((k) => k === key);
      if (resource) {
        const quantity = quantityProblem(value);
        if (quantity) problems.push(`${key} ${quantity}`);
        else resources[resource] = value;
      } else if (key === 'aliases' && role === 'service') {
        aliases = value.split(',').filter((alias) => alias !== '');
        for (const alias of aliases) {
          const aliasProblem = dnsSubdomainProblem(alias);
          if (aliasProblem) problems.push(`the alias ${aliasProblem}`);
        }
      } else if (key.startsWith(envPrefix) && role === 'service') {
        const variable = key.slice(envPrefix.length);
        const nameProblem = envNameProblem(variable);
        if (nameProblem) problems.push(`${key}: ${nameProblem}`);
        else if (Object.hasOwn(env, variable)) problems.push(`${key} is given twice`);
        else env[variable] = value;
      } else if (key === 'envFrom' && role === 'service') {
        if (value === '') problems.push('envFrom needs the name of a Secret in the runner\'s namespace');
        for (const secret of value.split(',').filter((name) => name !== '')) {
          const secretProblem = dnsSubdomainProblem(secret);
          if (secretProblem) problems.push(`envFrom: the Secret's name ${secretProblem}`);
          else envFrom.push(secret);
        }
      } else if (key === 'ready' && role === 'service') {
        if (twice) problems.push('ready= is given twice');
        else {
          const read = readyProbe(value);
          if ('problem' in read) problems.push(read.problem);
          else probe = read.probe;
        }
      } else if (key === 'readyTimeout' && role === 'service') {
        const seconds = readyTimeout(value);
        if (seconds === undefined) problems.push(`readyTimeout= must be a whole number of seconds from 1 to ${readyTimeoutSeconds.max}; got '${visible(value)}'`);
        else if (twice) problems.push('readyTimeout= is given twice');
        else timeoutSeconds = seconds;
      } else {
        problems.push(`'${visible(quotedOption(option))}' is not one of ${[...resourceKeys, ...(role === 'service' ? serviceKeys : [])].map((k) => `${k}=`).join(', ')}`);
      }
    }
    if (given.has('readyTimeout') && !given.has('ready') && role === 'service') problems.push('readyTimeout= needs ready= (what the service is waited for)');
    for (const { request, wanted, limit, most } of requestsAboveLimits(resources)) problems.push(`${request} (${wanted}) must not exceed ${limit} (${most})`);
    if (problems.length > 0) problems.forEach(problem);
    else lines.push({ container: { name, image, role, aliases, env, envFrom, resources, ...(probe && { ready: { probe, timeoutSeconds } }) }, problem });
  });
  return lines;
}

/**
 * The containers a podContainers runner offers; with another dockerMode, none, and either input set is a problem.
 * Names, images and host names must each be unique across both inputs: the shim maps a job's image to the one
 * container offering it, and each name or host name stands for one container.
 */
export function readOfferedContainers(inputs: InputReader, dockerMode: DockerMode): OfferedContainer[] | undefined {
  const lines = [...readLines(inputs, 'job'), ...readLines(inputs, 'service')];
  if (dockerMode !== 'podContainers') {
    for (const input of Object.values(inputOf)) {
      if (inputs.optional(input) !== undefined) inputs.problem(input, `is for dockerMode podContainers only; dockerMode is ${dockerMode}.`);
    }
    return undefined;
  }
  if (lines.length === 0) {
    inputs.problem(inputOf.job, 'or serviceContainers must offer at least one container with dockerMode podContainers (one name=image a line).');
  }
  const seen = new Map<string, string>();
  const taken = (key: string, what: string) => {
    const earlier = seen.get(key);
    if (earlier === undefined) seen.set(key, what);
    return earlier;
  };
  for (const { container, problem } of lines) {
    const claims = [
      [`name ${container.name}`, `the name ${container.name}`],
      [`image ${normalizeImage(container.image)}`, `the image ${container.image}`],
      ...container.aliases.map((alias) => [`name ${alias}`, `the alias ${alias}`]),
    ];
    for (const [key, what] of claims) {
      const earlier = taken(key, `${container.name} in ${inputOf[container.role]}`);
      if (earlier !== undefined) problem(`${what} is taken by ${earlier}`);
    }
  }
  return lines.map(({ container }) => container);
}
