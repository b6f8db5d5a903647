// --help: each command's flags, grouped and worded as the task's inputs are in the pipeline editor.
import { commands, credentialSources, type Command, type Flag } from './commands.js';

export const program = 'azure-devops-runner';

export const exitCodes = {
  ok: 0,
  failed: 1,
  /** Bad usage or input: nothing ran, nothing changed. */
  usage: 2,
  /** remove found a job running on the pool: no pod and no registration was removed. */
  busy: 3,
} as const;

const width = 100;

/** Markdown links become "text (url)"; the rest reads well as it is. */
const plain = (markdown: string) => markdown.replace(/\[([^\]]+)\]\(([^)]+)\)/g, '$1 ($2)');

function wrap(text: string, indent: string): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line !== '' && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(indent + line);
  return lines.join('\n');
}

function describeFlag(flag: Flag): string {
  const usage = flag.kind === 'switch' ? `--${flag.name}` : `--${flag.name} <${flag.options ? flag.options.join('|') : 'value'}>`;
  const facts = [
    flag.required && 'required',
    flag.defaultValue !== undefined && `default ${flag.defaultValue}`,
    flag.kind === 'list' && 'repeat it for more lines',
    flag.when && `with ${flag.when.replace(/ = /g, ' ')}`,
  ].filter(Boolean);
  const head = `  ${usage}  ${flag.label}${facts.length > 0 ? ` (${facts.join('; ')})` : ''}`;
  return flag.help ? `${head}\n${wrap(plain(flag.help), '      ')}` : head;
}

export function commandHelp(command: Command): string {
  const groups = new Map<string, Flag[]>();
  for (const flag of command.flags) groups.set(flag.group, [...(groups.get(flag.group) ?? []), flag]);
  const sections = [...groups].map(([group, flags]) => `${group}\n${flags.map(describeFlag).join('\n')}`);
  const intro = [
    `Usage: ${program} ${command.name} [flags]`,
    '',
    wrap(command.summary, ''),
    ...(command.task ? ['', wrap(`Its flags are ${command.task}'s inputs, under the same names: --poolName 'Linux Private' or --poolName='Linux Private'. A switch is on alone (--dryRun) or set with =true/=false.`, '')] : []),
  ];
  const credentials = command.flags.some((flag) => flag.name === 'token-stdin')
    ? [`Credentials: from the environment, never a flag\n${Object.entries(credentialSources)
      .filter(([input]) => input === 'personalAccessToken' || command.task === 'DeployRunnerPool')
      .map(([, source]) => `  ${source.env}  ${source.label}${source.stdin ? '; or --token-stdin' : ''}`).join('\n')}`]
    : [];
  return [...intro, '', ...sections.flatMap((section) => [section, '']), ...credentials].join('\n').trimEnd() + '\n';
}

export function programHelp(): string {
  const list = Object.values(commands).map((command) => `  ${command.name.padEnd(8)}${wrap(command.summary, '          ').trimStart()}`);
  return [
    `Usage: ${program} <command> [flags]`,
    '',
    'Self-hosted Azure Pipelines agents on Kubernetes, from a terminal that reaches the cluster: the same code the',
    'pipeline tasks run.',
    '',
    'Commands',
    ...list,
    '',
    `${program} <command> --help lists a command's flags.`,
    '',
    `Exit status: ${exitCodes.ok} done; ${exitCodes.failed} failed; ${exitCodes.usage} bad usage or input (nothing changed); ${exitCodes.busy} remove found a`,
    'running job (no pod and no registration removed).',
    '',
  ].join('\n');
}
