// Reads and validates task inputs, collecting every problem so one failed run names all of them at once.
import type { TaskHost } from './ports/host.js';
import { dnsLabelProblem, envNameProblem, quantityProblem } from './kube-syntax.js';
import { poolNameProblem } from './ado-names.js';

export interface InputProblem {
  input: string;
  message: string;
}

/** A problem told as the tasks tell it: `Input 'name': what is wrong`. */
export function describeInputProblem(problem: InputProblem): string {
  return `Input '${problem.input}': ${problem.message}`;
}

/** Bad input: raised before anything is changed anywhere. */
export class InputError extends Error {
  constructor(readonly problems: InputProblem[]) {
    super(problems.map(describeInputProblem).join('\n'));
    this.name = 'InputError';
  }
}

/**
 * An input that reads well but cannot be used: what it names is missing or unfit (an agent pool, a StatefulSet, a
 * folder, a service connection). Found while a flow looks or acts, so a failed run, not bad input; an entry names the
 * input from `problem`, never from the message's text.
 */
export class UnusableInput extends Error {
  readonly problem: InputProblem;

  constructor(input: string, message: string) {
    const problem = { input, message };
    super(describeInputProblem(problem));
    this.problem = problem;
    this.name = 'UnusableInput';
  }
}

/** What is wrong with a value, in words that end without a full stop; undefined when it is fine. */
export type Rule = (value: string) => string | undefined;

/**
 * Reads inputs by one rule for empty values: an input left empty takes its default (task.json's defaultValue, passed
 * here as `fallback`; a default such as $(System.CollectionUri) takes that pipeline variable's value). An input with
 * no default that the task needs is refused as empty.
 */
export class InputReader {
  private readonly problems: InputProblem[] = [];

  /** `display` names an input in problems as its source calls it (an environment variable, a command-line flag). */
  constructor(
    private readonly host: Pick<TaskHost, 'getInput' | 'getSecretInput'> & Partial<Pick<TaskHost, 'getVariable'>>,
    private readonly display: (input: string) => string = (input) => input,
  ) {}

  problem(input: string, message: string): void {
    this.problems.push({ input: this.display(input), message });
  }

  /** The value, or the default when the input is empty. */
  private read(name: string, fallback?: string): string | undefined {
    const value = this.host.getInput(name);
    if (value !== undefined || fallback === undefined) return value;
    const variable = /^\$\((.+)\)$/.exec(fallback)?.[1];
    return variable === undefined ? fallback : this.host.getVariable?.(variable)?.trim() || undefined;
  }

  optional(name: string, fallback?: string): string | undefined {
    return this.read(name, fallback);
  }

  required(name: string, fallback?: string): string {
    const value = this.read(name, fallback);
    if (value === undefined) this.problem(name, 'is required but was empty.');
    return value ?? '';
  }

  /** A required credential: masked as soon as it is read (line by line), never quoted in a problem. */
  secret(name: string): string {
    const value = this.host.getSecretInput(name);
    if (value === undefined) this.problem(name, 'is required but was empty.');
    else if (/[\r\n]/.test(value)) this.problem(name, 'must be one line; it holds a line break (a secret variable pasted with a newline?).');
    return value ?? '';
  }

  /** An input checked by `rule`; required unless `optional` is set. */
  checked(name: string, rule: Rule, options: { optional?: boolean; fallback?: string } = {}): string | undefined {
    const value = options.optional ? this.optional(name, options.fallback) : this.required(name, options.fallback);
    const problem = value === undefined || value === '' ? undefined : rule(value);
    if (problem !== undefined) this.problem(name, `${problem}.`);
    return value;
  }

  /** A required input that must match `pattern`; `rule` says in words what is allowed. */
  matching(name: string, pattern: RegExp, rule: string, fallback?: string): string {
    return this.checked(name, (value) => (pattern.test(value) ? undefined : `must be ${rule}; got '${value}'`), { fallback }) ?? '';
  }

  dnsLabel(name: string, fallback?: string, maxLength = 63): string {
    return this.checked(name, (value) => dnsLabelProblem(value, maxLength), { fallback }) ?? '';
  }

  integer(name: string, range: { min: number; max: number }, fallback?: number): number {
    const raw = this.read(name);
    if (raw === undefined) {
      if (fallback !== undefined) return fallback;
      this.problem(name, 'is required but was empty.');
      return range.min;
    }
    const value = Number(raw);
    if (!/^-?\d+$/.test(raw) || value < range.min || value > range.max) {
      this.problem(name, `must be a whole number from ${range.min} to ${range.max}; got '${raw}'.`);
      return range.min;
    }
    return value;
  }

  boolean(name: string, fallback: boolean): boolean {
    const raw = this.read(name);
    if (raw === undefined) return fallback;
    if (/^(true|yes|1)$/i.test(raw)) return true;
    if (/^(false|no|0)$/i.test(raw)) return false;
    this.problem(name, `must be true or false; got '${raw}'.`);
    return fallback;
  }

  choice<T extends string>(name: string, choices: readonly T[], fallback?: T): T {
    const raw = this.read(name, fallback);
    const match = choices.find((c) => c.toLowerCase() === raw?.toLowerCase());
    if (match === undefined) {
      this.problem(name, `must be one of ${choices.join(', ')}; got '${raw ?? ''}'.`);
      return choices[0];
    }
    return match;
  }

  /** A quantity, `fallback` when empty; `none` (any case) sets none, where a default would otherwise apply. */
  quantity(name: string, fallback?: string): string | undefined {
    const none = (value: string) => /^none$/i.test(value);
    const value = this.checked(name, (text) => (none(text) ? undefined : quantityProblem(text)), { optional: true, fallback });
    return value === undefined || none(value) ? undefined : value;
  }

  /** An Azure DevOps agent pool's name; required unless `optional` is set. */
  poolName(name: string, options: { optional?: boolean } = {}): string {
    return this.checked(name, poolNameProblem, options) ?? '';
  }

  url(name: string, fallback?: string): string {
    const value = this.required(name, fallback);
    if (value === '') return value;
    // user:password@ would reach logs, errors and the manifests: refused, and never quoted.
    if (/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(value)) {
      this.problem(name, 'must not hold a user name or password (…@host): the tasks authenticate with the personalAccessToken input.');
      return '';
    }
    // new URL() drops line breaks and tabs and encodes spaces, so the raw value would reach the calls unchecked.
    if (/[\s\p{Cc}]/u.test(value)) {
      this.problem(name, 'must be one URL without spaces; it holds a space, a line break or another control character.');
      return '';
    }
    try {
      const parsed = new URL(value);
      if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new Error('scheme');
    } catch {
      this.problem(name, `must be an http(s) URL such as https://dev.azure.com/contoso; got '${value}'.`);
    }
    return value.replace(/\/+$/, '');
  }

  /**
   * Lines of `key=value` (blank lines and # comments skipped; a line ends at \n or \r\n). A carriage return alone is
   * refused: no editor ends lines so today, and read as a line end it would turn one pasted value into two settings.
   * Keys are variable names unless `rules.key` says otherwise; values are checked by `rules.value`.
   */
  keyValues(name: string, rules: { key?: Rule; value?: Rule } = {}): Record<string, string> {
    const keyRule = rules.key ?? envNameProblem;
    const raw = this.read(name);
    const result: Record<string, string> = {};
    if (raw === undefined) return result;
    raw.split(/\r?\n/).forEach((line, index) => {
      const text = line.trim();
      if (text === '' || text.startsWith('#')) return;
      if (text.includes('\r')) {
        this.problem(name, `line ${index + 1} holds a carriage return inside the line (a value pasted from elsewhere?).`);
        return;
      }
      const eq = text.indexOf('=');
      if (eq < 0) {
        this.problem(name, `line ${index + 1} must look like KEY=value; got '${text}'.`);
        return;
      }
      const key = text.slice(0, eq).trim();
      const value = text.slice(eq + 1).trim();
      const problem = keyRule(key) ?? rules.value?.(value);
      if (problem !== undefined) this.problem(name, `line ${index + 1}: ${problem}.`);
      else result[key] = value;
    });
    return result;
  }

  /** Throws one InputError naming every problem found so far. */
  finish(): void {
    if (this.problems.length > 0) throw new InputError([...this.problems]);
  }
}
