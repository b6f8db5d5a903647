// The TaskHost backed by azure-pipelines-task-lib, and the one way every task entry runs and reports failure.
import * as tl from 'azure-pipelines-task-lib/task.js';
import * as taskLibInternal from 'azure-pipelines-task-lib/internal.js';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceEndpoint, TaskHost } from '../core/ports/host.js';
import { logLine, withoutLoggingCommands } from '../core/log-text.js';
import { endpointSecrets } from '../core/connections.js';

/** Masks each line of a value: the agent masks within a line, and task-lib refuses a secret with a line break. */
function maskLines(value: string): void {
  for (const line of value.split(/\r\n|\r|\n/)) if (line.trim() !== '') tl.setSecret(line.trim());
}

function endpoint(id: string): ServiceEndpoint | undefined {
  let auth: tl.EndpointAuthorization | undefined;
  try {
    auth = tl.getEndpointAuthorization(id, true);
  } catch {
    // task-lib's message quotes the whole authorization, credentials and all.
    throw new Error('holds authorization data that is not valid JSON.');
  }
  if (auth === undefined) return undefined;
  const dataKeys = ['authorizationType', 'acceptUntrustedCerts', 'clusterContext', 'registrytype'];
  const data: Record<string, string> = {};
  for (const key of dataKeys) {
    const value = tl.getEndpointDataParameter(id, key, true);
    if (value !== undefined) data[key] = value;
  }
  const found: ServiceEndpoint = { url: tl.getEndpointUrl(id, true), scheme: auth.scheme, parameters: auth.parameters ?? {}, data };
  for (const secret of endpointSecrets(found)) tl.setSecret(secret);
  return found;
}

/**
 * An input's raw value from task-lib's store: tl.getInput writes every value to the debug log, secrets and URLs too.
 * _vault and _getVariableKey are task-lib internals: package.json pins its exact version, and a unit test checks them.
 */
function rawInput(name: string): string | undefined {
  return taskLibInternal._vault.retrieveSecret(`INPUT_${taskLibInternal._getVariableKey(name)}`)?.trim() || undefined;
}

export function taskLibHost(): TaskHost {
  return {
    getInput: rawInput,
    getSecretInput: (name) => {
      const value = rawInput(name);
      if (value !== undefined) maskLines(value);
      return value;
    },
    getEndpoint: endpoint,
    getVariable: (name) => tl.getVariable(name),
    setOutput: (name, value) => tl.setVariable(name, value, false, true),
    setSecret: maskLines,
    // Every message may carry an input's value: none may reach the agent as a logging command.
    info: (message) => console.log(logLine(message)),
    warning: (message) => tl.warning(withoutLoggingCommands(message)),
    debug: (message) => tl.debug(withoutLoggingCommands(message)),
    addSummary: (title, markdown) => {
      const dir = mkdtempSync(join(tl.getVariable('Agent.TempDirectory') ?? tmpdir(), 'summary-'));
      const file = join(dir, `${title.replace(/[^A-Za-z0-9-]+/g, '-')}.md`);
      writeFileSync(file, markdown);
      tl.addAttachment('Distributedtask.Core.Summary', title, file);
    },
  };
}

/** Runs a task's body; any error fails the task with its message, and the process exits non-zero. */
export async function runTask(body: (host: TaskHost) => Promise<void>): Promise<void> {
  try {
    await body(taskLibHost());
    tl.setResult(tl.TaskResult.Succeeded, '');
  } catch (error) {
    tl.setResult(tl.TaskResult.Failed, withoutLoggingCommands(error instanceof Error ? error.message : String(error)));
    process.exitCode = 1;
  }
}

/** The extension this task was packaged in (scripts/build.mjs writes extension.json beside each bundle). */
export function extensionIdentity(): { publisher: string; id: string } | undefined {
  const file = join(__dirname, 'extension.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { publisher: string; id: string }) : undefined;
}
