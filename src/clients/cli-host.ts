// The TaskHost of the command line (cli/main.ts): inputs from its flags, credentials from the environment or stdin,
// progress on stderr and results on stdout, every secret masked and every logging command defused on the way out.
import type { ServiceEndpoint, TaskHost } from '../core/ports/host.js';

export interface CliStreams {
  /** Results: outputs (`name=value`), the status table, rendered manifests. */
  out(text: string): void;
  /** Progress, warnings and errors. */
  err(text: string): void;
}

/** `##vso[` and `##[` read as commands by the Azure Pipelines agent when the command line runs in a pipeline step. */
const loggingCommand = /##(vso)?\[/g;

export class CliHost implements TaskHost {
  private readonly secrets: string[] = [];

  /**
   * `inputs` by the tasks' input names; `credentials` the secret inputs, read from where the command line takes them
   * (masked from the moment they are read); `verbose` shows the flows' debug lines.
   */
  constructor(
    private readonly inputs: ReadonlyMap<string, string>,
    private readonly credentials: Readonly<Record<string, string | undefined>>,
    private readonly streams: CliStreams,
    private readonly verbose = false,
  ) {
    for (const value of Object.values(credentials)) if (value?.trim()) this.setSecret(value.trim());
  }

  getInput(name: string): string | undefined {
    return this.inputs.get(name)?.trim() || undefined;
  }

  getSecretInput(name: string): string | undefined {
    return this.credentials[name]?.trim() || undefined;
  }

  /** The command line has no service connections: it reaches the cluster through a kubeconfig. */
  getEndpoint(): ServiceEndpoint | undefined {
    return undefined;
  }

  getVariable(): string | undefined {
    return undefined;
  }

  setOutput(name: string, value: string): void {
    this.print(`${name}=${value}\n`);
  }

  setSecret(value: string): void {
    if (value === '' || this.secrets.includes(value)) return;
    this.secrets.push(value);
    // Longest first: a secret that contains another is masked whole.
    this.secrets.sort((a, b) => b.length - a.length);
  }

  info(message: string): void {
    this.streams.err(`${this.clean(message)}\n`);
  }

  warning(message: string): void {
    this.streams.err(`warning: ${this.clean(message)}\n`);
  }

  debug(message: string): void {
    if (this.verbose) this.streams.err(`debug: ${this.clean(message)}\n`);
  }

  /** A task's run summary (markdown): shown as it is, after the progress it sums up. */
  addSummary(_title: string, markdown: string): void {
    this.streams.err(`${this.clean(markdown)}\n`);
  }

  /** A result on stdout. */
  print(text: string): void {
    this.streams.out(this.clean(text));
  }

  /** An error on stderr. */
  error(message: string): void {
    this.streams.err(`${this.clean(message)}\n`);
  }

  /** Every secret masked, and logging commands defused so that no printed value can act on a pipeline. */
  clean(text: string): string {
    let masked = text;
    for (const secret of this.secrets) masked = masked.split(secret).join('***');
    return masked.replace(loggingCommand, (command) => `${command.slice(0, -1)} [`);
  }
}
