// Demand matching as the service does it, written from Microsoft's DistributedTask Web API (Demand, DemandExists,
// DemandEquals, DemandMinimumVersion; open in actions/runner src/Sdk/DTWebApi/WebApi/, the same code as the Azure DevOps
// Server 2022 assembly) and .NET's System.Version. Deliberately not the product's matcher: the emulator is its referee.

/** A demand the service accepts: `name` (exists), `name -equals value`, `name -gtVersion value` (a minimum version). */
export type ServiceDemand =
  | { kind: 'exists'; name: string }
  | { kind: 'equals'; name: string; value: string }
  | { kind: 'minimumVersion'; name: string; value: string };

// .NET's \s is [\f\n\r\t\v\x85\p{Z}], `.` is anything but \n, and `$` also matches before a final \n.
const WHITE = '[\\f\\n\\r\\t\\v\\x85\\p{Z}]';
const DARK = '[^\\f\\n\\r\\t\\v\\x85\\p{Z}]';
/** Demand.s_demandRegex: `^(?<name>\S+)(\s+\-(?<opcode>\S+)\s+(?<value>.*))?$`. */
const DEMAND = new RegExp(`^(?<name>${DARK}+)(${WHITE}+-(?<opcode>${DARK}+)${WHITE}+(?<value>[^\\n]*))?(?=\\n?$)`, 'u');

/** Demand.TryParse: undefined when the text is no demand (an unknown or miscased operator, or an empty value). */
export function parseServiceDemand(text: string): ServiceDemand | undefined {
  const groups = DEMAND.exec(text)?.groups;
  if (!groups) return undefined;
  const { name, opcode, value } = groups;
  if (opcode === undefined) return { kind: 'exists', name };
  // The operator is matched case-sensitively; the constructors refuse an empty value.
  if (value === '') return undefined;
  if (opcode === 'equals') return { kind: 'equals', name, value };
  if (opcode === 'gtVersion') return { kind: 'minimumVersion', name, value };
  return undefined;
}

/** Demand.ToString: the form job requests carry. */
export function formatServiceDemand(demand: ServiceDemand): string {
  if (demand.kind === 'exists') return demand.name;
  return `${demand.name} -${demand.kind === 'equals' ? 'equals' : 'gtVersion'} ${demand.value}`;
}

/** Parses demand strings; the first that is no demand is returned as `invalid`. */
export function parseServiceDemands(texts: string[]): { demands: ServiceDemand[] } | { invalid: string } {
  const demands: ServiceDemand[] = [];
  for (const text of texts) {
    const demand = parseServiceDemand(text);
    if (!demand) return { invalid: text };
    demands.push(demand);
  }
  return { demands };
}

const PRINTABLE_ASCII = /^[ -~]*$/;

/** String.Equals(OrdinalIgnoreCase): both upper-cased code point by code point with simple (length-keeping) case mapping. */
export function foldCase(text: string): string {
  // Printable ASCII maps one character to one: most names and values need no walk.
  if (PRINTABLE_ASCII.test(text)) return text.toUpperCase();
  let folded = '';
  for (const char of text) {
    const upper = char.toUpperCase();
    folded += Array.from(upper).length === 1 ? upper : char;
  }
  return folded;
}

/** An agent's capabilities as the service holds them: one dictionary, keys compared with OrdinalIgnoreCase (TaskAgent.cs). */
export class Capabilities {
  private readonly values = new Map<string, string>();

  /** Later sources win over earlier ones for the same name in any case (user capabilities over system ones). */
  constructor(...sources: Record<string, string>[]) {
    for (const source of sources) for (const [name, value] of Object.entries(source)) this.values.set(foldCase(name), value);
  }

  get(name: string): string | undefined {
    return this.values.get(foldCase(name));
  }
}

/** System.Version: 2 to 4 components, each an Int32 ≥ 0 as Int32.TryParse(NumberStyles.Integer) reads it; unset ones are -1. */
type DotnetVersion = [number, number, number, number];

const COMPONENT = /^[\t\n\v\f\r ]*([+-]?)(\d+)[\t\n\v\f\r ]*$/;

function parseDotnetVersion(text: string): DotnetVersion | undefined {
  const parts = text.split('.');
  if (parts.length < 2 || parts.length > 4) return undefined;
  const components: number[] = [];
  for (const part of parts) {
    const match = COMPONENT.exec(part);
    if (!match) return undefined;
    const magnitude = Number(match[2]);
    // "-0" is 0; anything else negative, or beyond Int32, fails.
    if (magnitude > 2 ** 31 - 1 || (match[1] === '-' && magnitude !== 0)) return undefined;
    components.push(magnitude);
  }
  while (components.length < 4) components.push(-1);
  return components as DotnetVersion;
}

/** DemandMinimumVersion.ParseVersion: the text before the first '-' (unless it leads), read as a System.Version. */
export function parseDemandVersion(text: string): DotnetVersion | undefined {
  if (text === '') return undefined;
  const dash = text.indexOf('-');
  return parseDotnetVersion(dash > 0 ? text.slice(0, dash) : text);
}

/** DemandMinimumVersion.CompareVersion: an unreadable version sorts below every readable one, two unreadable ones are equal. */
export function compareDemandVersions(first: string, second: string): number {
  const a = parseDemandVersion(first);
  const b = parseDemandVersion(second);
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? -1 : 1;
  for (let i = 0; i < 4; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}

/** Demand.IsSatisfied. */
export function demandSatisfied(demand: ServiceDemand, capabilities: Capabilities): boolean {
  const value = capabilities.get(demand.name);
  if (value === undefined) return false;
  if (demand.kind === 'exists') return true;
  if (demand.kind === 'equals') return foldCase(demand.value) === foldCase(value);
  // "gtVersion" is a minimum: the agent's version may equal the demanded one.
  return compareDemandVersions(demand.value, value) <= 0;
}

/** Whether capabilities satisfy every demand; demands must have parsed (see parseServiceDemand). */
export function satisfiesAll(capabilities: Capabilities, demands: ServiceDemand[]): boolean {
  return demands.every((demand) => demandSatisfied(demand, capabilities));
}
