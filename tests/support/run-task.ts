// Runs a bundled task the way the agent's Node handler does: `node index.js` with INPUT_* and ENDPOINT_* variables.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTask, repoRoot } from './task-manifests.js';

export interface TaskRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** The task's final result and message (`##vso[task.complete]`). */
  result?: string;
  message?: string;
  /** Output variables the task set. */
  outputs: Record<string, string>;
  warnings: string[];
  /** The agent temp folder the task was given (Agent.TempDirectory). */
  tempDirectory: string;
}

/** The logging commands a task means to write; `outputs` are the output variables its task.json declares. */
function isIntended(command: string, properties: Record<string, string>, outputs: string[]): boolean {
  switch (command) {
    case 'task.debug':
    case 'task.setsecret':
    case 'task.complete':
      return true;
    case 'task.issue':
      return properties.type === 'warning' || properties.type === 'error';
    case 'task.setvariable':
      return outputs.includes(properties.variable) && properties.isOutput === 'true';
    case 'task.addattachment':
      return properties.type === 'Distributedtask.Core.Summary';
    default:
      return false;
  }
}

/**
 * The lines of a task's output on which the agent would run a logging command the task did not mean to write. The
 * agent splits output at \n, \r and \r\n and acts on the first `##vso[` in a line, found by a culture-aware search
 * that skips control and default-ignorable characters (azure-pipelines-agent, Command.TryParse).
 */
export function unintendedCommands(task: string, output: string): string[] {
  const outputs = (readTask(task).outputVariables ?? []).map((o) => o.name);
  return output.split(/\r\n|\r|\n/).filter((line) => {
    if (!/##vso/i.test(line.replace(/[\p{Cc}\p{Default_Ignorable_Code_Point}]/gu, ''))) return false;
    const command = /^##vso\[([^\]]*)\]/.exec(line);
    if (command === null) return true;
    const [name, ...pairs] = command[1].split(' ');
    const properties = Object.fromEntries(pairs.join(' ').split(';').filter((p) => p.includes('=')).map((p) => [p.slice(0, p.indexOf('=')).trim(), p.slice(p.indexOf('=') + 1)]));
    return !isIntended(name, properties, outputs);
  });
}

/**
 * What a task reported through the agent's logging commands on its standard output. Throws when a value the task
 * masked (`##vso[task.setsecret]`) appears on any other line, of stdout or stderr: the real agent masks only the
 * lines after that command, and a debug line is shown to anyone who turns on system.debug. Throws as well on any
 * logging command the task did not mean to write (an input's value read by the agent as a command).
 */
export function parseTaskOutput(task: string, stdout: string, knownSecrets: string[] = [], stderr = ''): Pick<TaskRun, 'stdout' | 'stderr' | 'result' | 'message' | 'outputs' | 'warnings'> {
  const lines = [...stdout.split('\n'), ...stderr.split('\n')];
  const secrets = [...knownSecrets, ...lines.flatMap((line) => /^##vso\[task\.setsecret\](.+)$/.exec(line)?.[1] ?? [])];
  const leaks = lines.flatMap((line, index) => (!line.startsWith('##vso[task.setsecret]') && secrets.some((secret) => line.includes(secret)) ? [index + 1] : []));
  if (leaks.length > 0) throw new Error(`The task printed a value it masks, on output line(s) ${leaks.join(', ')}.`);
  const injected = unintendedCommands(task, `${stdout}\n${stderr}`);
  if (injected.length > 0) throw new Error(`The task wrote logging commands it did not mean to:\n${injected.join('\n')}`);
  // Each command where the agent reads it, at the start of a line: a value may hold command-like text in its data.
  const complete = /^##vso\[task\.complete result=(\w+);\](.*)$/m.exec(stdout);
  const outputs: Record<string, string> = {};
  for (const [, name, value] of stdout.matchAll(/^##vso\[task\.setvariable variable=([^;\]]+);[^\]\n]*isOutput=true[^\]\n]*\](.*)$/gm)) outputs[name] = value;
  const warnings = [...stdout.matchAll(/^##vso\[task\.issue type=warning[^\]\n]*\](.*)$/gm)].map((m) => m[1]);
  return { stdout, stderr, result: complete?.[1], message: complete?.[2], outputs, warnings };
}

/** The ids the tests give their service connections: the agent names every connection by its GUID. */
export const kubernetesConnectionId = '3f2b8c1e-6d4a-4e7b-9a1c-5e8d2f0b7a64';
export const registryConnectionId = 'a7c4e9d2-1b3f-4a6e-8d5c-2f9b0e1a3c75';

export interface AgentEndpoint {
  url?: string;
  scheme: string;
  parameters: Record<string, string>;
  data?: Record<string, string>;
}

/**
 * A service connection's variables exactly as the agent sets them for a task (azure-pipelines-agent, Handler.cs
 * AddEndpointsToEnvironment): named by the connection's GUID as Guid.ToString() writes it (lower case), each
 * parameter and data key upper-cased with . and space as _.
 */
export function endpointEnv(id: string, endpoint: AgentEndpoint): Record<string, string> {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)) throw new Error(`the agent names connections by their GUID, in lower case; got '${id}'`);
  const key = (name: string) => name.replace(/[. ]/g, '_').toUpperCase();
  const data = endpoint.data ?? {};
  return {
    ...(endpoint.url !== undefined && { [`ENDPOINT_URL_${id}`]: endpoint.url }),
    [`ENDPOINT_AUTH_${id}`]: JSON.stringify({ scheme: endpoint.scheme, parameters: endpoint.parameters }),
    [`ENDPOINT_AUTH_SCHEME_${id}`]: endpoint.scheme,
    ...Object.fromEntries(Object.entries(endpoint.parameters).map(([name, value]) => [`ENDPOINT_AUTH_PARAMETER_${id}_${key(name)}`, value])),
    [`ENDPOINT_DATA_${id}`]: JSON.stringify(data),
    ...Object.fromEntries(Object.entries(data).map(([name, value]) => [`ENDPOINT_DATA_${id}_${key(name)}`, value])),
  };
}

/** A Kubernetes service connection of the kubeconfig kind, as the agent hands it to a task. */
export function kubeconfigEndpoint(kubeconfig: string, id = kubernetesConnectionId): Record<string, string> {
  return endpointEnv(id, { url: 'https://cluster.invalid', scheme: 'Kubeconfig', parameters: { kubeconfig }, data: { authorizationType: 'Kubeconfig' } });
}

/** A Docker registry service connection with a user name and password, as the agent hands it to a task. */
export function dockerRegistryEndpoint(registryUrl: string, username: string, password: string, id = registryConnectionId): Record<string, string> {
  return endpointEnv(id, { url: registryUrl, scheme: 'UsernamePassword', parameters: { registry: registryUrl, username, password, email: '' }, data: { registrytype: 'Others' } });
}

/** The tasks' credential inputs: never printed, even when the task stops on a bad input before masking them. */
const credentialInputs = ['personalAccessToken', 'servicePrincipalClientSecret'];

/** Runs dist/extension/tasks/<task>/index.js (build it first with scripts/build.mjs) and collects what it reported. */
export function runBundledTask(task: string, inputs: Record<string, string>, extraEnv: Record<string, string> = {}, timeoutMs = 600_000): Promise<TaskRun> {
  // The agent's temp folder, where the task library keeps its key file and the task its temporary kubeconfig.
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', ...extraEnv };
  env.AGENT_TEMPDIRECTORY ??= mkdtempSync(join(tmpdir(), 'task-'));
  const tempDirectory = env.AGENT_TEMPDIRECTORY;
  for (const [name, value] of Object.entries(inputs)) env[`INPUT_${name.toUpperCase()}`] = value;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, 'dist', 'extension', 'tasks', task, 'index.js')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
      process.stderr.write(text);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      try {
        const secrets = credentialInputs.map((name) => inputs[name]).filter((value) => value !== undefined && value.trim() !== '');
        resolve({ status, tempDirectory, ...parseTaskOutput(task, stdout, secrets, stderr) });
      } catch (error) {
        reject(error);
      }
    });
  });
}
