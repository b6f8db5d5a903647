// The command line's commands and their flags. deploy, render and scale take the tasks' own inputs (task.json) under
// the same names, so a pipeline's `inputs:` block and a command line read alike and a bad value gets the task's error;
// status and remove take the few inputs they need, defined the way the tasks define theirs.
import deployTask from '../tasks/DeployRunnerPool/task.json' with { type: 'json' };
import scaleTask from '../tasks/ScaleRunnerPool/task.json' with { type: 'json' };
import type { FlagKind, FlagSpec } from './args.js';

export type CommandName = 'deploy' | 'render' | 'scale' | 'status' | 'remove';

export interface Flag extends FlagSpec {
  label: string;
  help?: string;
  defaultValue?: string;
  options?: string[];
  required: boolean;
  /** When the input applies, as the task's visibleRule says (e.g. `autoscaling = inCluster`). */
  when?: string;
  /** The heading it is listed under in --help. */
  group: string;
}

export interface Command {
  name: CommandName;
  summary: string;
  /** Which task it runs, if any. */
  task?: string;
  flags: Flag[];
  /** It reaches the cluster (render does not). */
  cluster: boolean;
  /** It reads the PAT (render only when it is given). */
  token: boolean;
}

interface TaskInput {
  name: string;
  type: string;
  label: string;
  helpMarkDown?: string;
  defaultValue?: string;
  required?: boolean;
  visibleRule?: string;
  options?: Record<string, string>;
  groupName?: string;
}

interface TaskManifest {
  name: string;
  groups: Array<{ name: string; displayName: string }>;
  inputs: TaskInput[];
}

/** Where the command line takes each credential input from: never a flag, which would land in shell history and `ps`. */
export const credentialSources: Record<string, { env: string; stdin: boolean; label: string }> = {
  personalAccessToken: { env: 'AZURE_DEVOPS_EXT_PAT', stdin: true, label: 'Personal access token (the variable Microsoft\'s az devops uses)' },
  servicePrincipalClientSecret: { env: 'AZURE_CLIENT_SECRET', stdin: false, label: 'Client secret, with --credentialType servicePrincipal' },
};

/** Task inputs that are no flags, with what to do instead. */
export const refusedFlags: Record<string, string> = {
  personalAccessToken: 'a token given as a flag lands in shell history and in ps. Set AZURE_DEVOPS_EXT_PAT, or pass --token-stdin and write it to stdin.',
  servicePrincipalClientSecret: 'a secret given as a flag lands in shell history and in ps. Set AZURE_CLIENT_SECRET.',
  kubernetesServiceConnection: 'the command line reaches the cluster through a kubeconfig: --kubeconfig and --context.',
  connectionType: 'the command line reaches the cluster through a kubeconfig: --kubeconfig and --context.',
  action: 'deploy applies the pool; render writes its manifests.',
};

const kindOf = (type: string): FlagKind => (type === 'boolean' ? 'switch' : type === 'multiLine' ? 'list' : 'value');

/** A task.json input as a flag; pipeline macros such as $(System.CollectionUri) are no defaults on a command line. */
function taskFlag(task: TaskManifest, input: TaskInput): Flag {
  const defaultValue = input.defaultValue && !input.defaultValue.startsWith('$(') ? input.defaultValue : undefined;
  return {
    name: input.name,
    kind: kindOf(input.type),
    label: input.label,
    help: input.helpMarkDown,
    defaultValue,
    options: input.options && Object.keys(input.options),
    required: Boolean(input.required) && defaultValue === undefined && input.visibleRule === undefined,
    when: input.visibleRule,
    group: task.groups.find((group) => group.name === input.groupName)?.displayName ?? 'Inputs',
  };
}

function taskFlags(task: TaskManifest, except: string[] = []): Flag[] {
  return task.inputs.filter((input) => !(input.name in refusedFlags) && !except.includes(input.name)).map((input) => taskFlag(task, input));
}

const cluster: Flag[] = [
  { name: 'kubeconfig', kind: 'value', label: 'Kubeconfig file', help: 'Default: $KUBECONFIG (a list of files is merged), then ~/.kube/config, then the service account of the pod it runs in.', required: false, group: 'Cluster' },
  { name: 'context', kind: 'value', label: 'Kubeconfig context', help: 'A context of the kubeconfig, instead of its current one.', required: false, group: 'Cluster' },
];
const tokenStdin: Flag = { name: 'token-stdin', kind: 'switch', label: 'Read the PAT from stdin', help: 'Instead of AZURE_DEVOPS_EXT_PAT: the first line of stdin.', required: false, group: 'Credentials' };
const common: Flag[] = [
  { name: 'verbose', kind: 'switch', label: 'Debug output', help: 'Shows the debug lines the tasks write to a pipeline\'s debug log.', required: false, group: 'Output' },
  { name: 'help', kind: 'switch', label: 'This help', required: false, group: 'Output' },
];

const deploy = deployTask as TaskManifest;
const scale = scaleTask as TaskManifest;
/** The pool a command works on, described as DeployRunnerPool describes it. */
const poolFlags = ['namespace', 'azureDevOpsUrl', 'poolName', 'runnerName'].map((name) => taskFlag(deploy, deploy.inputs.find((input) => input.name === name)!));

export const commands: Record<CommandName, Command> = {
  deploy: {
    name: 'deploy', task: 'DeployRunnerPool', cluster: true, token: true,
    summary: 'Deploys or updates a runner pool, as DeployRunnerPool with action apply does.',
    flags: [...cluster, ...taskFlags(deploy), tokenStdin, ...common],
  },
  render: {
    name: 'render', task: 'DeployRunnerPool', cluster: false, token: false,
    summary: 'Writes the pool\'s manifests (never a secret value) without reaching the cluster, as DeployRunnerPool with action render does: to stdout, or to --manifestPath.',
    flags: [...taskFlags(deploy), tokenStdin, ...common],
  },
  scale: {
    name: 'scale', task: 'ScaleRunnerPool', cluster: true, token: true,
    summary: 'Sets the replica count from the queue, or to a fixed number, as ScaleRunnerPool does.',
    flags: [...cluster, ...taskFlags(scale), tokenStdin, ...common],
  },
  status: {
    name: 'status', cluster: true, token: true,
    summary: 'Shows the pool as the Runner pools hub does: every slot with its agent, its job and its pod, and the counters.',
    flags: [...cluster, ...poolFlags,
      { name: 'output', kind: 'value', label: 'Output format', help: '`table` for people, `json` (the hub\'s view of the pool) for scripts.', defaultValue: 'table', options: ['table', 'json'], required: false, group: 'Output' },
      tokenStdin, ...common],
  },
  remove: {
    name: 'remove', cluster: true, token: true,
    summary: 'Retires a pool and leaves nothing of it: drains its agents, waits for running jobs to end, then removes its autoscaler, pods, registrations, Secret, RBAC, PodDisruptionBudget, StatefulSet and hub snapshot. The namespace and the agent pool stay.',
    flags: [...cluster, ...poolFlags,
      { name: 'waitSeconds', kind: 'value', label: 'Wait for running jobs (seconds)', help: 'How long to wait for jobs running on the pool to end (0: refuse a pool that runs a job, changing nothing).', defaultValue: '600', required: false, group: 'Runner pool' },
      tokenStdin, ...common],
  },
};
