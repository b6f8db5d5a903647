// Reads and validates task inputs, collecting every problem so one failed run names all of them at once.
import type { TaskHost } from './ports/host.js';

export interface InputProblem {
  input: string;
  message: string;
}

/** Bad input: raised before anything is changed anywhere. */
export class InputError extends Error {
  constructor(readonly problems: InputProblem[]) {
    super(problems.map((p) => `Input '${p.input}': ${p.message}`).join('\n'));
    this.name = 'InputError';
  }
}

// RFC 1123 label, the rule for namespaces and StatefulSet names.
const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
// A Kubernetes resource quantity such as 500m, 2, 1.5Gi, 10G.
const quantity = /^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class InputReader {
  private readonly problems: InputProblem[] = [];

  constructor(private readonly host: Pick<TaskHost, 'getInput' | 'getSecretInput'>) {}

  problem(input: string, message: string): void {
    this.problems.push({ input, message });
  }

  optional(name: string): string | undefined {
    return this.host.getInput(name);
  }

  required(name: string): string {
    const value = this.host.getInput(name);
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

  /** A required input that must match `pattern`; `rule` says in words what is allowed. */
  matching(name: string, pattern: RegExp, rule: string, fallback?: string): string {
    const value = this.host.getInput(name) ?? fallback;
    if (value === undefined) {
      this.problem(name, 'is required but was empty.');
      return '';
    }
    if (!pattern.test(value)) this.problem(name, `must be ${rule}; got '${value}'.`);
    return value;
  }

  dnsLabel(name: string, fallback?: string): string {
    const value = this.matching(name, dnsLabel, 'a lowercase DNS label (a-z, 0-9 and -, at most 63 characters)', fallback);
    if (value.length > 63) this.problem(name, `must be at most 63 characters; got ${value.length}.`);
    return value;
  }

  integer(name: string, range: { min: number; max: number }, fallback?: number): number {
    const raw = this.host.getInput(name);
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
    const raw = this.host.getInput(name);
    if (raw === undefined) return fallback;
    if (/^(true|yes|1)$/i.test(raw)) return true;
    if (/^(false|no|0)$/i.test(raw)) return false;
    this.problem(name, `must be true or false; got '${raw}'.`);
    return fallback;
  }

  choice<T extends string>(name: string, choices: readonly T[], fallback?: T): T {
    const raw = this.host.getInput(name) ?? fallback;
    const match = choices.find((c) => c.toLowerCase() === raw?.toLowerCase());
    if (match === undefined) {
      this.problem(name, `must be one of ${choices.join(', ')}; got '${raw ?? ''}'.`);
      return choices[0];
    }
    return match;
  }

  quantity(name: string): string | undefined {
    const value = this.host.getInput(name);
    if (value !== undefined && !quantity.test(value)) {
      this.problem(name, `must be a Kubernetes quantity such as 500m, 2, 512Mi or 10Gi; got '${value}'.`);
    }
    return value;
  }

  url(name: string): string {
    const value = this.required(name);
    if (value === '') return value;
    // user:password@ would reach logs, errors and the manifests: refused, and never quoted.
    if (/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(value)) {
      this.problem(name, 'must not hold a user name or password (…@host): the tasks authenticate with the personalAccessToken input.');
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

  /** Lines of `key=value` (blank lines and # comments skipped); keys checked against `keyPattern`. */
  keyValues(name: string, keyPattern: RegExp = envName, keyRule = 'a variable name'): Record<string, string> {
    const raw = this.host.getInput(name);
    const result: Record<string, string> = {};
    if (raw === undefined) return result;
    raw.split(/\r?\n/).forEach((line, index) => {
      const text = line.trim();
      if (text === '' || text.startsWith('#')) return;
      const eq = text.indexOf('=');
      const key = eq < 0 ? text : text.slice(0, eq).trim();
      if (eq < 0 || !keyPattern.test(key)) {
        this.problem(name, `line ${index + 1} must look like KEY=value with KEY ${keyRule}; got '${text}'.`);
        return;
      }
      result[key] = text.slice(eq + 1).trim();
    });
    return result;
  }

  /** Throws one InputError naming every problem found so far. */
  finish(): void {
    if (this.problems.length > 0) throw new InputError([...this.problems]);
  }
}
