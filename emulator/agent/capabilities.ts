// System capabilities the double reports: its environment (minus VSO_AGENT_IGNORE), tools on PATH, and Agent.* facts.
import { accessSync, constants } from 'node:fs';
import { hostname } from 'node:os';
import { delimiter, join } from 'node:path';

/** Variables the agent never reports (its EnvironmentCapabilitiesProvider; names compared exactly on Linux). */
const ALWAYS_IGNORED = ['comp_wordbreaks', 'ls_colors', 'TERM', 'TERM_PROGRAM', 'TERM_PROGRAM_VERSION', 'SHLVL', 'PSMODULEPATH', 'SYSTEM_ACCESSTOKEN'];
/** Nor a variable whose value is this long or longer. */
const MAX_VALUE_LENGTH = 1024;

/** Capability name → executable, as the Linux agent's tool scan reports them (value = full path). */
const TOOLS: [string, string][] = [
  ['AzureGuestAgent', 'waagent'], ['ant', 'ant'], ['bundler', 'bundle'], ['clang', 'clang'], ['cmake', 'cmake'], ['curl', 'curl'],
  ['docker', 'docker'], ['dotnet', 'dotnet'], ['git', 'git'], ['gulp', 'gulp'], ['java', 'java'], ['JDK', 'javac'], ['make', 'make'],
  ['maven', 'mvn'], ['MSBuild', 'xbuild'], ['MSBuild', 'msbuild'], ['node.js', 'node'], ['node.js', 'nodejs'], ['npm', 'npm'],
  ['python', 'python'], ['python3', 'python3'], ['rake', 'rake'], ['ruby', 'ruby'], ['sh', 'sh'], ['subversion', 'svn'], ['svn', 'svn'],
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
  const ignored = new Set([...ALWAYS_IGNORED, ...(env.VSO_AGENT_IGNORE ?? '').split(',').map((name) => name.trim())]);
  const capabilities: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && name && !ignored.has(name) && value.length < MAX_VALUE_LENGTH) capabilities[name] = value;
  }
  for (const [name, executable] of TOOLS) {
    const found = name in capabilities ? undefined : which(executable, env.PATH ?? '');
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
    // Started by run.sh, not as a service.
    InteractiveSession: 'True',
  };
}
