// Azure Pipelines demand parsing and matching against agent capabilities (pure; shared by the emulator and ScaleRunnerPool).

/** A parsed demand: `name` (exists), `name -equals value`, or `name -gtVersion x.y.z` (minimum version). */
export type Demand =
  | { kind: 'exists'; name: string }
  | { kind: 'equals'; name: string; value: string }
  | { kind: 'minVersion'; name: string; value: string };

const OPERATOR = /^(\S+)\s+-(equals|gtVersion)\s+(.+)$/i;

/** Parses one demand string as the service writes it; throws on an unknown operator or an empty name. */
export function parseDemand(text: string): Demand {
  const trimmed = text.trim();
  if (trimmed === '') throw new Error('A demand must not be empty.');
  const match = OPERATOR.exec(trimmed);
  if (match) {
    const [, name, op, value] = match;
    return op.toLowerCase() === 'equals'
      ? { kind: 'equals', name, value: value.trim() }
      : { kind: 'minVersion', name, value: value.trim() };
  }
  if (/\s-\w+/.test(trimmed)) throw new Error(`Unsupported demand operator in "${trimmed}".`);
  if (/\s/.test(trimmed)) throw new Error(`A demand name must not contain spaces: "${trimmed}".`);
  return { kind: 'exists', name: trimmed };
}

/** Writes a demand back in the service's string form. */
export function formatDemand(demand: Demand): string {
  if (demand.kind === 'exists') return demand.name;
  return `${demand.name} -${demand.kind === 'equals' ? 'equals' : 'gtVersion'} ${demand.value}`;
}

/** Numeric components of a version string ("3.236.1-rc" → [3, 236, 1]); null when it does not start with a number. */
export function parseVersion(text: string): number[] | null {
  const match = /^\s*v?(\d+(?:\.\d+)*)/.exec(text);
  return match ? match[1].split('.').map(Number) : null;
}

/** Compares two parsed versions, missing components counting as 0. */
export function compareVersions(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const diff = (a[i] ?? 0) - (b[i] ?? 0);
    if (diff !== 0) return Math.sign(diff);
  }
  return 0;
}

/** Looks a capability up by name, case-insensitively as the service does. */
function capability(capabilities: Record<string, string>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(capabilities)) if (key.toLowerCase() === wanted) return value;
  return undefined;
}

/** Whether one parsed demand is met by the capabilities. */
export function capabilitiesMeet(capabilities: Record<string, string>, demand: Demand): boolean {
  const value = capability(capabilities, demand.name);
  if (value === undefined) return false;
  if (demand.kind === 'exists') return true;
  if (demand.kind === 'equals') return value.toLowerCase() === demand.value.toLowerCase();
  const have = parseVersion(value);
  const want = parseVersion(demand.value);
  return have !== null && want !== null && compareVersions(have, want) >= 0;
}

/** Whether an agent with these (system + user) capabilities satisfies every demand string. */
export function agentSatisfiesDemands(capabilities: Record<string, string>, demands: string[]): boolean {
  return demands.every((text) => capabilitiesMeet(capabilities, parseDemand(text)));
}
