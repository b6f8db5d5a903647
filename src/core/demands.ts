// Azure Pipelines demand parsing and matching against agent capabilities, by the service's rules (pure). ScaleRunnerPool
// uses it to tell which queued jobs its agents could take, so it must agree with the service, corner cases included:
// Microsoft's DistributedTask Web API (Demand, DemandEquals, DemandMinimumVersion) and .NET's System.Version.

/** A parsed demand: `name` (exists), `name -equals value`, or `name -gtVersion x.y.z` (minimum version). */
export type Demand =
  | { kind: 'exists'; name: string }
  | { kind: 'equals'; name: string; value: string }
  | { kind: 'minVersion'; name: string; value: string };

// A name, then optionally blanks, `-operator`, blanks and the value as written (trailing blanks included).
const DEMAND = /^(\S+)(?:\s+-(\S+)\s+(.*))?$/;

/** Parses one demand string as the service writes it; throws on an unknown operator, an empty value or a blank name. */
export function parseDemand(text: string): Demand {
  if (text.trim() === '') throw new Error('A demand must not be empty.');
  const match = DEMAND.exec(text);
  if (!match) throw new Error(`Not a demand: "${text}" (a name without blanks, optionally followed by -equals or -gtVersion and a value).`);
  const [, name, operator, value] = match;
  if (operator === undefined) return { kind: 'exists', name };
  // The service knows these two operators, spelled exactly so.
  if (operator !== 'equals' && operator !== 'gtVersion') throw new Error(`Unsupported demand operator -${operator} in "${text}".`);
  if (value === '') throw new Error(`The demand "${text}" has no value.`);
  return { kind: operator === 'equals' ? 'equals' : 'minVersion', name, value };
}

/** Writes a demand back in the service's string form. */
export function formatDemand(demand: Demand): string {
  if (demand.kind === 'exists') return demand.name;
  return `${demand.name} -${demand.kind === 'equals' ? 'equals' : 'gtVersion'} ${demand.value}`;
}

/**
 * A demand as a job request lists it, in the string form: the live service sends strings, its REST spec objects of a
 * name and a value (read as -equals: the object does not say which operator).
 */
export function demandText(demand: string | { name: string; value?: string | null }): string {
  if (typeof demand === 'string') return demand;
  return demand.value == null ? demand.name : `${demand.name} -equals ${demand.value}`;
}

/** Text compared as .NET's OrdinalIgnoreCase does: each character upper-cased on its own (no "ß" → "SS"). */
function caseless(text: string): string {
  return Array.from(text, (char) => (char.toUpperCase().length === char.length ? char.toUpperCase() : char)).join('');
}

/**
 * A version as the service reads one: the text before the first '-' (unless it starts with one) as a .NET System.Version,
 * i.e. 2 to 4 dot-separated non-negative 32-bit integers (blanks and a sign allowed around each); components not written
 * are -1, so 1.2 sorts below 1.2.0. Null when it is not such a version ("3", "v1.2", "1.2.3.4.5").
 */
export function parseVersion(text: string): number[] | null {
  const dash = text.indexOf('-');
  const parts = (dash > 0 ? text.slice(0, dash) : text).split('.');
  if (parts.length < 2 || parts.length > 4) return null;
  const version: number[] = [];
  for (const part of parts) {
    const match = /^[\t\n\v\f\r ]*([+-]?)(\d+)[\t\n\v\f\r ]*$/.exec(part);
    const number = match ? Number(match[2]) : NaN;
    if (!match || number > 0x7fffffff || (match[1] === '-' && number !== 0)) return null;
    version.push(number);
  }
  return [...version, -1, -1].slice(0, 4);
}

/** Compares two parsed versions component by component. */
export function compareVersions(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const diff = (a[i] ?? -1) - (b[i] ?? -1);
    if (diff !== 0) return Math.sign(diff);
  }
  return 0;
}

/** Looks a capability up by name ignoring case; the last spelling wins, so user capabilities spread after system ones win. */
function capability(capabilities: Record<string, string>, name: string): string | undefined {
  const wanted = caseless(name);
  let found: string | undefined;
  for (const [key, value] of Object.entries(capabilities)) if (caseless(key) === wanted) found = value;
  return found;
}

/** Whether one parsed demand is met by the capabilities. */
export function capabilitiesMeet(capabilities: Record<string, string>, demand: Demand): boolean {
  const value = capability(capabilities, demand.name);
  if (value === undefined) return false;
  if (demand.kind === 'exists') return true;
  if (demand.kind === 'equals') return caseless(value) === caseless(demand.value);
  // The service orders an unreadable version below every readable one: a demand it cannot read is met by any value,
  // a readable demand is never met by an unreadable value.
  const want = parseVersion(demand.value);
  const have = parseVersion(value);
  if (want === null) return true;
  return have !== null && compareVersions(have, want) >= 0;
}

/** Why this runner cannot read a job's demands (the first it cannot parse), or undefined when it reads them all. */
export function demandsProblem(demands: string[]): string | undefined {
  for (const text of demands) {
    try {
      parseDemand(text);
    } catch (error) {
      return (error as Error).message;
    }
  }
  return undefined;
}

/** Whether an agent with these (system + user) capabilities satisfies every demand string. */
export function agentSatisfiesDemands(capabilities: Record<string, string>, demands: string[]): boolean {
  return demands.every((text) => capabilitiesMeet(capabilities, parseDemand(text)));
}
