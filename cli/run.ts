// The command line's body: arguments to a command over the same core and flows as the tasks, and an exit status that
// says what happened (cli/help.ts exitCodes). cli/main.ts gives it the process; unit tests give it their own streams.
import extensionManifest from '../vss-extension.json' with { type: 'json' };
import { CliHost } from '../src/clients/cli-host.js';
import { nodeFiles } from '../src/clients/node-files.js';
import { systemClock } from '../src/clients/system-clock.js';
import { PoolBusyError } from '../src/flows/remove-pool.js';
import * as wire from '../src/wiring/index.js';
import { describeInputProblem, InputError, InputReader, UnusableInput, readDeployOptions, readRemoveOptions, readScaleOptions, readStatusOptions, type Files, type KubeClient } from '../src/core/index.js';
import { parseFlags, UsageError } from './args.js';
import { commands, credentialSources, refusedFlags, type Command, type CommandName } from './commands.js';
import { commandHelp, exitCodes, program, programHelp } from './help.js';
import { statusTable } from './status-table.js';

export interface CliIo {
  env: Readonly<Record<string, string | undefined>>;
  /** The first line of stdin (read only for --token-stdin). */
  stdinLine(): Promise<string>;
  out(text: string): void;
  err(text: string): void;
}

/** The extension whose data storage holds the hub's snapshots: the one this command line was released with. */
const extension = { publisher: extensionManifest.publisher, id: extensionManifest.id };
/** The flags of the command line itself; every other flag is a task input. */
const ownFlags = new Set(['kubeconfig', 'context', 'token-stdin', 'verbose', 'help']);

/** How an input is named in errors: as the command line takes it. */
function display(input: string): string {
  const source = credentialSources[input];
  return source ? `${source.env}${source.stdin ? ' (or --token-stdin)' : ''}` : `--${input}`;
}

interface Context {
  command: Command;
  flags: Map<string, string>;
  host: CliHost;
  inputs: InputReader;
}

/** The cluster from the kubeconfig; a missing file or context is bad input, found before anything changes. */
async function openCluster(flags: Map<string, string>): Promise<KubeClient> {
  // Loaded once the inputs are valid: the Kubernetes library is most of the bundle.
  const { HttpKubeClient, loadUserKubeConfig } = await import('../src/clients/kube-http.js');
  try {
    return new HttpKubeClient(loadUserKubeConfig({ path: flags.get('kubeconfig'), context: flags.get('context') }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Where this command's flow gets its clients: the kubeconfig's cluster (none for `render`). */
async function sources({ command, flags, host }: Context, files?: Files): Promise<wire.EntrySources> {
  const kube = command.cluster ? await openCluster(flags) : undefined;
  return { host, extension, connect: kube && (() => Promise.resolve(kube)), files };
}

async function deploy(context: Context): Promise<number> {
  const { command, host, inputs } = context;
  const options = readDeployOptions(inputs);
  // /dev/stdout (render's default): the manifests go to stdout, through the host's masking like everything printed.
  const stdout = '/dev/stdout';
  const files: Files = {
    ...nodeFiles,
    kind: (path) => (path === stdout ? 'file' : nodeFiles.kind(path)),
    writeTarget: (path) => (path === stdout ? stdout : nodeFiles.writeTarget(path)),
    write: (path, text, write) => (path === stdout ? host.print(text) : nodeFiles.write(path, text, write)),
  };
  const result = await wire.deploy(await sources(context, files), options);
  if (command.name === 'deploy') {
    host.setOutput('statefulSetName', result.statefulSetName);
    host.setOutput('replicas', String(result.replicas));
    host.setOutput('podRecycling', result.podRecycling);
    if (result.manifestPath) host.setOutput('manifestPath', result.manifestPath);
  }
  return exitCodes.ok;
}

async function scale(context: Context): Promise<number> {
  const { host, inputs } = context;
  const options = readScaleOptions(inputs);
  const decision = await wire.scale(await sources(context), options);
  host.setOutput('previousReplicas', String(decision.previousReplicas));
  host.setOutput('replicas', String(decision.replicas));
  host.setOutput('queuedJobs', String(decision.queuedJobs));
  host.setOutput('busyAgents', String(decision.busyAgents));
  host.setOutput('decisionReason', decision.reason);
  return exitCodes.ok;
}

async function status(context: Context): Promise<number> {
  const { host, inputs } = context;
  const options = readStatusOptions(inputs);
  const found = await wire.status(await sources(context), options);
  host.print(options.output === 'json' ? `${JSON.stringify(found, null, 2)}\n` : statusTable(found, new Date(systemClock.now())));
  return exitCodes.ok;
}

async function remove(context: Context): Promise<number> {
  const { host, inputs } = context;
  const options = readRemoveOptions(inputs);
  const removed = await wire.remove(await sources(context), options);
  if (removed.objects.length + removed.agents.length > 0) host.info(`Removed runner '${removed.runnerName}': ${removed.objects.length} objects and ${removed.agents.length} registrations.`);
  return exitCodes.ok;
}

const run: Record<CommandName, (context: Context) => Promise<number>> = { deploy, render: deploy, scale, status, remove };

/** What the command line answers for task inputs it takes no flag for (see refusedFlags). */
function fixedInputs(command: Command): Record<string, string> {
  if (command.task !== 'DeployRunnerPool' && command.task !== 'ScaleRunnerPool') return {};
  return {
    // The shared cluster reader wants a connection; the command line connects through the kubeconfig instead.
    connectionType: 'kubernetesServiceConnection',
    kubernetesServiceConnection: 'kubeconfig',
    // A pipeline task keeps its manifests inside the agent's folders; a user at a shell writes where they choose.
    ...(command.task === 'DeployRunnerPool' && { action: command.name === 'render' ? 'render' : 'apply', allowManifestOutsideWorkspace: 'true' }),
    ...(command.name === 'render' && { manifestPath: '/dev/stdout' }),
  };
}

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.err(programHelp());
    return exitCodes.usage;
  }
  if (name === '--help' || name === '-h' || (name === 'help' && rest.length === 0)) {
    io.out(programHelp());
    return exitCodes.ok;
  }
  if (name === '--version') {
    io.out(`${extensionManifest.version}\n`);
    return exitCodes.ok;
  }
  const wanted = name === 'help' ? rest[0] : name;
  if (!Object.hasOwn(commands, wanted)) {
    io.err(`${program}: unknown command '${wanted}'. Commands: ${Object.keys(commands).join(', ')}. See ${program} --help.\n`);
    return exitCodes.usage;
  }
  const command = commands[wanted as CommandName];
  if (name === 'help') {
    io.out(commandHelp(command));
    return exitCodes.ok;
  }
  let flags: Map<string, string>;
  try {
    flags = parseFlags(rest, command.flags, refusedFlags);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(`${program} ${command.name}: ${error.message}\nSee ${program} ${command.name} --help.\n`);
    return exitCodes.usage;
  }
  if (flags.has('help')) {
    io.out(commandHelp(command));
    return exitCodes.ok;
  }
  const token = flags.get('token-stdin') === 'true' ? (await io.stdinLine()).trim() : io.env[credentialSources.personalAccessToken.env];
  const credentials: Record<string, string | undefined> = { personalAccessToken: token, servicePrincipalClientSecret: io.env[credentialSources.servicePrincipalClientSecret.env] };
  if (!command.token) {
    // render writes no secret value: a credential it is not given is not needed.
    for (const input of Object.keys(credentials)) credentials[input] ||= 'not needed to render';
  }
  const inputs = new Map([...flags].filter(([flag]) => !ownFlags.has(flag)));
  for (const [input, value] of Object.entries(fixedInputs(command))) if (!inputs.has(input)) inputs.set(input, value);
  const host = new CliHost(inputs, credentials, io, flags.get('verbose') === 'true');
  try {
    return await run[command.name]({ command, flags, host, inputs: new InputReader(host, display) });
  } catch (error) {
    const { code, message } = failure(command, error);
    host.error(`${program} ${command.name}: ${message}`);
    return code;
  }
}

/**
 * The exit status and the message of a command that failed, both from the error's type, never from its text: the
 * readers already name each input as the command line takes it (InputReader's display); a flow names the input it
 * cannot use as a task does, and is named here from the input the error carries.
 */
function failure(command: Command, error: unknown): { code: number; message: string } {
  if (error instanceof InputError) return { code: exitCodes.usage, message: `bad input, nothing was changed:\n${error.message}` };
  if (error instanceof UsageError) return { code: exitCodes.usage, message: error.message };
  if (error instanceof UnusableInput) {
    const { input } = error.problem;
    const flagged = command.flags.some((flag) => flag.name === input) || input in credentialSources;
    return { code: exitCodes.failed, message: describeInputProblem({ ...error.problem, input: flagged ? display(input) : input }) };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: error instanceof PoolBusyError ? exitCodes.busy : exitCodes.failed, message };
}
