// Runs a bundled task the way the agent's Node handler does: `node index.js` with INPUT_* and ENDPOINT_* variables.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './task-manifests.js';

export interface TaskRun {
  status: number | null;
  stdout: string;
  /** The task's final result and message (`##vso[task.complete]`). */
  result?: string;
  message?: string;
  /** Output variables the task set. */
  outputs: Record<string, string>;
  warnings: string[];
  /** The agent temp folder the task was given (Agent.TempDirectory). */
  tempDirectory: string;
}

/**
 * What a task reported through the agent's logging commands on its standard output. Throws when a value the task
 * masked (`##vso[task.setsecret]`) appears on any other line: the real agent masks only the lines after that command,
 * and a debug line is shown to anyone who turns on system.debug.
 */
export function parseTaskOutput(stdout: string, knownSecrets: string[] = []): Pick<TaskRun, 'stdout' | 'result' | 'message' | 'outputs' | 'warnings'> {
  const lines = stdout.split('\n');
  const secrets = [...knownSecrets, ...lines.flatMap((line) => /^##vso\[task\.setsecret\](.+)$/.exec(line)?.[1] ?? [])];
  const leaks = lines.flatMap((line, index) => (!line.startsWith('##vso[task.setsecret]') && secrets.some((secret) => line.includes(secret)) ? [index + 1] : []));
  if (leaks.length > 0) throw new Error(`The task printed a value it masks, on output line(s) ${leaks.join(', ')}.`);
  const complete = /##vso\[task\.complete result=(\w+);\](.*)/.exec(stdout);
  const outputs: Record<string, string> = {};
  for (const [, name, value] of stdout.matchAll(/##vso\[task\.setvariable variable=([^;]+);[^\]]*isOutput=true[^\]]*\](.*)/g)) outputs[name] = value;
  const warnings = [...stdout.matchAll(/##vso\[task\.issue type=warning[^\]]*\](.*)/g)].map((m) => m[1]);
  return { stdout, result: complete?.[1], message: complete?.[2], outputs, warnings };
}

/** A Kubernetes service connection of the kubeconfig kind, as the agent hands it to a task. */
export function kubeconfigEndpoint(id: string, kubeconfig: string): Record<string, string> {
  const upper = id.toUpperCase();
  return {
    [`ENDPOINT_AUTH_${upper}`]: JSON.stringify({ scheme: 'Kubeconfig', parameters: { kubeconfig } }),
    [`ENDPOINT_DATA_${upper}_AUTHORIZATIONTYPE`]: 'Kubeconfig',
    [`ENDPOINT_URL_${upper}`]: 'https://cluster.invalid',
  };
}

/** A Docker registry service connection with a user name and password, as the agent hands it to a task. */
export function dockerRegistryEndpoint(id: string, registryUrl: string, username: string, password: string): Record<string, string> {
  const upper = id.toUpperCase();
  return {
    [`ENDPOINT_AUTH_${upper}`]: JSON.stringify({ scheme: 'UsernamePassword', parameters: { registry: registryUrl, username, password, email: '' } }),
    [`ENDPOINT_DATA_${upper}_REGISTRYTYPE`]: 'Others',
    [`ENDPOINT_URL_${upper}`]: registryUrl,
  };
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
    const child = spawn(process.execPath, [join(repoRoot, 'dist', 'extension', 'tasks', task, 'index.js')], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      try {
        const secrets = credentialInputs.map((name) => inputs[name]).filter((value) => value !== undefined && value.trim() !== '');
        resolve({ status, tempDirectory, ...parseTaskOutput(stdout, secrets) });
      } catch (error) {
        reject(error as Error);
      }
    });
  });
}
