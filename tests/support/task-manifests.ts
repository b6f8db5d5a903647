// Reads the extension manifest and every task.json, for the tests that check them.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const repoRoot = new URL('../..', import.meta.url).pathname;

export interface TaskInput {
  name: string;
  label: string;
  type: string;
  required?: boolean;
  defaultValue?: string;
  groupName?: string;
  visibleRule?: string;
  aliases?: string[];
  options?: Record<string, string>;
  helpMarkDown?: string;
}

export interface TaskManifest {
  id: string;
  name: string;
  friendlyName: string;
  description: string;
  category: string;
  author: string;
  version: { Major: number; Minor: number; Patch: number };
  instanceNameFormat: string;
  minimumAgentVersion?: string;
  groups?: Array<{ name: string; displayName: string }>;
  inputs: TaskInput[];
  outputVariables?: Array<{ name: string; description: string }>;
  execution: Record<string, { target: string }>;
}

export function taskFolders(): string[] {
  const dir = join(repoRoot, 'tasks');
  return readdirSync(dir).filter((name) => existsSync(join(dir, name, 'task.json'))).sort();
}

export function readTask(folder: string): TaskManifest {
  return JSON.parse(readFileSync(join(repoRoot, 'tasks', folder, 'task.json'), 'utf8')) as TaskManifest;
}

export function readExtensionManifest(): {
  id: string;
  version: string;
  files: Array<{ path: string; addressable?: boolean }>;
  contributions: Array<{ id: string; type: string; targets: string[]; properties: Record<string, unknown> }>;
  scopes: string[];
} {
  return JSON.parse(readFileSync(join(repoRoot, 'vss-extension.json'), 'utf8'));
}
