// System capabilities the double reports: its environment (minus VSO_AGENT_IGNORE), tools on PATH, and Agent.* facts.
import { accessSync, constants } from 'node:fs';
import { hostname } from 'node:os';
import { delimiter, join } from 'node:path';

/** Variables the agent never reports, whatever VSO_AGENT_IGNORE says. */
const ALWAYS_IGNORED = ['VSO_AGENT_IGNORE', 'AGENT_PROXYPASSWORD', 'AGENT_CLIENTCERTIFICATE_PASSWORD_ARCHIVE'];

/** Capability name → executable, as the Linux agent's tool scan reports them (value = full path). */
const TOOLS: [string, string][] = [
  ['ant', 'ant'], ['bundler', 'bundle'], ['clang', 'clang'], ['cmake', 'cmake'], ['curl', 'curl'], ['docker', 'docker'], ['dotnet', 'dotnet'],
  ['git', 'git'], ['gulp', 'gulp'], ['java', 'java'], ['make', 'make'], ['maven', 'mvn'], ['node.js', 'node'], ['npm', 'npm'],
  ['python', 'python'], ['python3', 'python3'], ['sh', 'sh'], ['subversion', 'svn'], ['svn', 'svn'],
];

function which(executable: string, path: string): string | undefined {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const candidate = join(dir, executable);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch { /* keep looking */ }
  }
  return undefined;
}

export function systemCapabilities(env: NodeJS.ProcessEnv, agentName: string, version: string, root: string): Record<string, string> {
  const ignored = new Set([...ALWAYS_IGNORED, ...(env.VSO_AGENT_IGNORE ?? '').split(',')].map((name) => name.trim().toUpperCase()).filter(Boolean));
  const capabilities: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && !ignored.has(name.toUpperCase())) capabilities[name] = value;
  }
  for (const [name, executable] of TOOLS) {
    const found = which(executable, env.PATH ?? '');
    if (found) capabilities[name] = found;
  }
  return {
    ...capabilities,
    'Agent.Name': agentName,
    'Agent.Version': version,
    'Agent.ComputerName': hostname(),
    'Agent.HomeDirectory': root,
    'Agent.OS': 'Linux',
    'Agent.OSArchitecture': 'X64',
    InteractiveSession: 'False',
  };
}
