// An in-memory TaskHost for unit tests: inputs from a record, everything the task reports kept for assertions.
import assert from 'node:assert/strict';
import type { ServiceEndpoint, TaskHost } from '../../src/core/ports/host.js';
import { InputError } from '../../src/core/inputs.js';
import { endpointSecrets } from '../../src/core/connections.js';

export class MemoryHost implements TaskHost {
  readonly outputs: Record<string, string> = {};
  readonly secrets: string[] = [];
  readonly log: string[] = [];
  readonly warnings: string[] = [];
  readonly summaries: Array<{ title: string; markdown: string }> = [];

  constructor(
    private readonly inputs: Record<string, string> = {},
    private readonly endpoints: Record<string, ServiceEndpoint> = {},
    private readonly variables: Record<string, string> = {},
  ) {}

  getInput(name: string): string | undefined {
    const value = this.inputs[name]?.trim();
    return value === '' ? undefined : value;
  }
  getSecretInput(name: string): string | undefined {
    const value = this.getInput(name);
    if (value !== undefined) this.setSecret(value);
    return value;
  }
  getEndpoint(id: string): ServiceEndpoint | undefined {
    const endpoint = this.endpoints[id];
    if (endpoint !== undefined) for (const secret of endpointSecrets(endpoint)) this.setSecret(secret);
    return endpoint;
  }
  getVariable(name: string): string | undefined {
    return this.variables[name];
  }
  setOutput(name: string, value: string): void {
    this.outputs[name] = value;
  }
  setSecret(value: string): void {
    this.secrets.push(value);
  }
  info(message: string): void {
    this.log.push(message);
  }
  warning(message: string): void {
    this.warnings.push(message);
  }
  debug(): void {}
  addSummary(title: string, markdown: string): void {
    this.summaries.push({ title, markdown });
  }
}

/** The problems (`input: message`) an input reading rejects with; fails unless it throws an InputError. */
export function inputProblems(read: () => unknown): string[] {
  try {
    read();
  } catch (error) {
    assert.ok(error instanceof InputError, `expected InputError, got ${String(error)}`);
    return error.problems.map((p) => `${p.input}: ${p.message}`);
  }
  assert.fail('expected an InputError');
}
