// The command line's arguments: `--name value`, `--name=value`, switches, repeatable list flags. Pure, so that every
// way of getting them wrong is unit-tested.

/** How a flag takes its value. `list`: repeatable, the values joined by newlines (a task's multi-line input). */
export type FlagKind = 'value' | 'switch' | 'list';

export interface FlagSpec {
  name: string;
  kind: FlagKind;
}

/** The arguments are wrong: nothing ran. Exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const normalized = (name: string) => name.replace(/[-_]/g, '').toLowerCase();

/**
 * The flags' values by name; a switch given alone is `true`. `refused` holds flags that are known but never accepted,
 * with the reason (a credential as a flag value lands in shell history and in `ps`).
 */
export function parseFlags(args: readonly string[], flags: readonly FlagSpec[], refused: Readonly<Record<string, string>> = {}): Map<string, string> {
  const values = new Map<string, string>();
  const byName = new Map(flags.map((flag) => [flag.name, flag]));
  for (let index = 0; index < args.length; index++) {
    const arg = args[index];
    if (!arg.startsWith('--') || arg === '--') throw new UsageError(`unexpected argument '${arg}': every input is a flag, such as --poolName 'Linux Private'.`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    if (name in refused) throw new UsageError(`--${name} is not accepted: ${refused[name]}`);
    const flag = byName.get(name);
    if (flag === undefined) {
      const near = flags.find((candidate) => normalized(candidate.name) === normalized(name));
      throw new UsageError(`unknown flag --${name}${near ? `; did you mean --${near.name}?` : '.'}`);
    }
    let value: string;
    if (eq >= 0) {
      value = arg.slice(eq + 1);
    } else if (flag.kind === 'switch') {
      value = 'true';
    } else {
      const next = args[index + 1];
      if (next === undefined || next.startsWith('--')) throw new UsageError(`--${name} needs a value (--${name} <value> or --${name}=<value>).`);
      value = next;
      index++;
    }
    const earlier = values.get(name);
    if (earlier !== undefined && flag.kind !== 'list') throw new UsageError(`--${name} is given twice.`);
    values.set(name, earlier === undefined ? value : `${earlier}\n${value}`);
  }
  return values;
}
