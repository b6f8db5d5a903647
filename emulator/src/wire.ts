// How answers are written, per the client's Accept header options (VssJsonMediaTypeFormatter, actions/runner
// src/Sdk/WebApi/WebApi/VssJsonMediaTypeFormatter.cs): root lists wrapped as {count, value} unless noArrayWrap, enums
// as camelCase names unless enumsAsNumbers, dates as ISO 8601 unless msDateFormat ("\/Date(ms)\/").
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface WireFormat {
  enumsAsNumbers: boolean;
  msDateFormat: boolean;
  noArrayWrap: boolean;
  /** Undocumented; the emulator drops `url` members and keeps `_links` (a guess, see README). */
  excludeUrls: boolean;
}

/** The options from the Accept header's parameters: names ignoring case, each on when its value is "true" in any case. */
export function wireFormat(req: IncomingMessage): WireFormat {
  const options = new Map<string, string>();
  for (const parameter of (req.headers.accept ?? '').split(/[;,]/)) {
    const [name, value = ''] = parameter.split('=').map((part) => part.trim());
    options.set(name.toLowerCase(), value.toLowerCase());
  }
  const on = (name: string) => options.get(name.toLowerCase()) === 'true';
  return { enumsAsNumbers: on('enumsAsNumbers'), msDateFormat: on('msDateFormat'), noArrayWrap: on('noArrayWrap'), excludeUrls: on('excludeUrls') };
}

/** An enum's members by camelCase name, with the numbers of the client packages' enums (checked by tests/contract). */
export type EnumMembers = Readonly<Record<string, number>>;

// azure-devops-extension-api TaskAgent/TaskAgent.d.ts (the same in azure-devops-node-api's TaskAgentInterfaces).
export const TaskAgentStatus = { offline: 1, online: 2 } as const;
export const TaskResult = { succeeded: 0, succeededWithIssues: 1, failed: 2, canceled: 3, skipped: 4, abandoned: 5 } as const;
export const TaskAgentPoolType = { automation: 1, deployment: 2 } as const;
export const TaskAgentPoolOptions = { none: 0, elasticPool: 1, singleUseAgents: 2, preserveAgentOnJobFailure: 4 } as const;
// azure-devops-extension-api Pipelines/Pipelines.d.ts.
export const RunState = { unknown: 0, inProgress: 1, canceling: 2, completed: 4 } as const;
export const RunResult = { unknown: 0, succeeded: 1, failed: 2, canceled: 4 } as const;

/** One enum member in an answer: written as its name, or its number when the client asks for enumsAsNumbers. */
export class WireEnum {
  constructor(readonly name: string, readonly value: number) {}

  toJSON(): string {
    return this.name;
  }
}

export function wireEnum<M extends EnumMembers>(members: M, name: keyof M & string): WireEnum {
  return new WireEnum(name, members[name]);
}

/** A member named (ignoring case) or numbered in a query or a body, as the service binds enums; undefined if neither. */
export function enumMember<M extends EnumMembers>(members: M, text: string | number): (keyof M & string) | undefined {
  const entries = Object.entries(members);
  const found = typeof text === 'number' || /^\d+$/.test(text.trim())
    ? entries.find(([, value]) => value === Number(text))
    : entries.find(([name]) => name.toLowerCase() === text.trim().toLowerCase());
  return found?.[0];
}

// A placeholder no answer contains, turned into the escaped MS JSON form after JSON.stringify (which cannot write "\/").
const MS_DATE = '\u0000msdate:';
const MS_DATE_TEXT = /"\\u0000msdate:(-?\d+)"/g;

/** Writes a JSON answer in the client's format; Date and WireEnum values anywhere in `value` are written per the options. */
export function sendWire(res: ServerResponse, format: WireFormat, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = Array.isArray(value) && !format.noArrayWrap ? { count: value.length, value } : value;
  // Without options, Date and WireEnum write themselves (toJSON) as the default format: no replacer, a faster stringify.
  const plain = !format.msDateFormat && !format.enumsAsNumbers && !format.excludeUrls;
  let text = plain ? JSON.stringify(body) : JSON.stringify(body, function (this: Record<string, unknown>, key: string, written: unknown) {
    const original = this[key];
    if (original instanceof Date) return format.msDateFormat ? `${MS_DATE}${original.getTime()}` : written;
    if (original instanceof WireEnum) return format.enumsAsNumbers ? original.value : original.name;
    if (format.excludeUrls && key === 'url' && typeof written === 'string') return undefined;
    return written;
  });
  if (format.msDateFormat) text = text.replace(MS_DATE_TEXT, '"\\/Date($1)\\/"');
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** A stored ISO time as a Date for an answer (undefined stays undefined, so optional members stay out). */
export function wireDate(iso: string): Date;
export function wireDate(iso: string | undefined): Date | undefined;
export function wireDate(iso: string | undefined): Date | undefined {
  return iso === undefined ? undefined : new Date(iso);
}
