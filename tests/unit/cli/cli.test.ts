// The command line's argument handling, in-process: flags named after the tasks' inputs, credentials never from a flag,
// the tasks' own bad-input errors named as the command line takes the input, --help per command, and exit statuses.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../../cli/run.js';
import { parseFlags, UsageError } from '../../../cli/args.js';
import { commands, refusedFlags } from '../../../cli/commands.js';
import { CliHost } from '../../../src/clients/cli-host.js';
import { InputError, InputReader, readDeployOptions } from '../../../src/core/index.js';
import { MemoryHost } from '../../support/memory-host.js';
import { readTask } from '../../support/task-manifests.js';

interface Run {
  code: number;
  out: string;
  err: string;
}

async function cli(args: string[], options: { env?: Record<string, string>; stdin?: string } = {}): Promise<Run> {
  let out = '';
  let err = '';
  const code = await runCli(args, {
    env: options.env ?? {},
    stdinLine: async () => (options.stdin ?? '').split('\n')[0],
    out: (text) => (out += text),
    err: (text) => (err += text),
  });
  return { code, out, err };
}

const pat = 'pat-0123456789abcdef-secret';
const pool = ['--poolName', 'Linux Private', '--azureDevOpsUrl', 'https://dev.azure.com/contoso'];

describe('command line arguments', () => {
  it('takes --name value and --name=value, switches alone or with =false, and repeated list flags as lines', () => {
    const flags = [{ name: 'poolName', kind: 'value' }, { name: 'dryRun', kind: 'switch' }, { name: 'env', kind: 'list' }, { name: 'image', kind: 'value' }] as const;
    const parsed = parseFlags(['--poolName', 'Linux Private', '--dryRun', '--env', 'A=1', '--env=B=2', '--image=reg/runner:1'], flags);
    assert.deepEqual(Object.fromEntries(parsed), { poolName: 'Linux Private', dryRun: 'true', env: 'A=1\nB=2', image: 'reg/runner:1' });
    assert.equal(parseFlags(['--dryRun=false'], flags).get('dryRun'), 'false');
    const wrong: Array<[string[], RegExp]> = [
      [['--poolName'], /--poolName needs a value/],
      [['--poolName', '--dryRun'], /--poolName needs a value/],
      [['--poolName', 'a', '--poolName', 'b'], /--poolName is given twice/],
      [['--pool-name', 'a'], /unknown flag --pool-name; did you mean --poolName\?/],
      [['--replicas', '2'], /unknown flag --replicas\.$/],
      [['Linux'], /unexpected argument 'Linux'/],
    ];
    for (const [args, message] of wrong) assert.throws(() => parseFlags(args, flags), (error: Error) => error instanceof UsageError && message.test(error.message), args.join(' '));
  });

  it('has a flag for every input of the task a command runs, but the connection, the action and the credentials', () => {
    for (const [command, task] of [['deploy', 'DeployRunnerPool'], ['render', 'DeployRunnerPool'], ['scale', 'ScaleRunnerPool']] as const) {
      const inputs = readTask(task).inputs.map((input) => input.name).filter((name) => !(name in refusedFlags));
      const flags = commands[command].flags.map((flag) => flag.name);
      assert.deepEqual(inputs.filter((name) => !flags.includes(name)), [], command);
    }
  });

  it('never takes a credential as a flag value, and says where it goes instead, without echoing it', async () => {
    for (const flag of ['--personalAccessToken', '--servicePrincipalClientSecret']) {
      const run = await cli(['deploy', ...pool, flag, pat]);
      assert.equal(run.code, 2);
      assert.match(run.err, new RegExp(`${flag} is not accepted: a .* lands in shell history and in ps\\. Set (AZURE_DEVOPS_EXT_PAT|AZURE_CLIENT_SECRET)`));
      assert.doesNotMatch(run.err + run.out, new RegExp(pat));
    }
    assert.match((await cli(['deploy', '--kubernetesServiceConnection', 'aks'])).err, /reaches the cluster through a kubeconfig: --kubeconfig and --context/);
  });

  it('reports every bad input at once, as the task does, each named as the command line takes it', async () => {
    const inputs = { poolName: 'Linux Private', replicas: 'many', dockerMode: 'rootful', runnerName: 'Not_A_Label' };
    const task = (() => {
      try {
        readDeployOptions(new InputReader(new MemoryHost({ ...inputs, kubernetesServiceConnection: 'aks' })));
      } catch (error) {
        return (error as InputError).problems;
      }
      assert.fail('the task accepted the inputs');
    })();
    const run = await cli(['deploy', ...Object.entries(inputs).flatMap(([name, value]) => [`--${name}`, value])]);
    assert.equal(run.code, 2);
    const expected = task.map((problem) => `Input '${problem.input === 'personalAccessToken' ? 'AZURE_DEVOPS_EXT_PAT (or --token-stdin)' : `--${problem.input}`}': ${problem.message}`);
    assert.deepEqual(run.err.trim().split('\n'), ['azure-devops-runner deploy: bad input, nothing was changed:', ...expected]);
    assert.ok(expected.some((line) => line.startsWith("Input '--azureDevOpsUrl'")) && expected.some((line) => line.startsWith("Input 'AZURE_DEVOPS_EXT_PAT")));
  });

  // A value that reads like another input's name (Input 'poolName') is quoted as given: errors are named from their type.
  const lookalike = "Input 'poolName'";

  it('quotes a bad value as given, even one that reads like another input', async () => {
    const run = await cli(['render', ...pool, '--image', 'reg/runner:1', '--runnerName', lookalike]);
    assert.equal(run.code, 2);
    assert.match(run.err, /^Input '--runnerName': must be a lowercase DNS label \(.*\); got 'Input 'poolName''\.$/m);
  });

  it('names an input a flow cannot use as the command line takes it, a failure (1), its value as given', async () => {
    const folder = join(mkdtempSync(join(tmpdir(), 'cli-manifest-')), lookalike);
    const run = await cli(['render', ...pool, '--image', 'reg/runner:1', '--manifestPath', join(folder, 'pool.yaml')]);
    assert.equal(run.code, 1, run.err);
    assert.equal(run.err, `azure-devops-runner render: Input '--manifestPath': the folder '${folder}' does not exist.\n`);
  });

  it('reads the PAT from AZURE_DEVOPS_EXT_PAT or from stdin, and masks it wherever it would be printed', async () => {
    const render = ['render', ...pool, '--image', 'reg/runner:1'];
    const sources: Array<{ env?: Record<string, string>; stdin?: string; flags: string[] }> = [
      { env: { AZURE_DEVOPS_EXT_PAT: pat }, flags: [] },
      { stdin: `${pat}\n`, flags: ['--token-stdin'] },
    ];
    for (const source of sources) {
      const run = await cli([...render, '--env', `LEAKED=${pat}`, ...source.flags], source);
      assert.equal(run.code, 0, run.err);
      assert.match(run.out, /value: '\*\*\*'|value: "\*\*\*"|value: \*\*\*/);
      assert.doesNotMatch(run.out + run.err, new RegExp(pat));
    }
    // deploy needs it: without one it names where it comes from.
    assert.match((await cli(['deploy', ...pool, '--image', 'reg/runner:1'])).err, /Input 'AZURE_DEVOPS_EXT_PAT \(or --token-stdin\)': is required but was empty/);
  });

  it('render writes the manifests to stdout, without the Secret, and needs neither a cluster nor a PAT', async () => {
    const run = await cli(['render', ...pool, '--image', 'reg/runner:1', '--autoscaling', 'inCluster']);
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /kind: StatefulSet/);
    assert.match(run.out, /kind: Deployment/);
    assert.doesNotMatch(run.out, /kind: Secret/);
    assert.match(run.err, /Rendered the manifests of runner pool 'linux-private' to \/dev\/stdout/);
  });

  it('defuses logging commands in anything it prints, so that no input can act on a pipeline it runs in', () => {
    let err = '';
    const host = new CliHost(new Map(), {}, { out: () => {}, err: (text) => (err += text) });
    host.info('a ##vso[task.setvariable variable=x]y and ##[group]z');
    assert.equal(err, 'a ##vso [task.setvariable variable=x]y and ## [group]z\n');
  });

  it('names a missing kubeconfig or context as bad usage (2), an unreachable cluster as a failure (1)', async () => {
    const env = { AZURE_DEVOPS_EXT_PAT: pat };
    const dir = mkdtempSync(join(tmpdir(), 'cli-kubeconfig-'));
    const kubeconfig = join(dir, 'config');
    writeFileSync(kubeconfig, [
      'apiVersion: v1', 'kind: Config', 'current-context: here',
      'clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]', 'users: [{name: u, user: {token: t}}]',
      'contexts: [{name: here, context: {cluster: c, user: u}}]', '',
    ].join('\n'));
    const missing = await cli(['status', ...pool, '--kubeconfig', join(dir, 'absent')], { env });
    assert.equal(missing.code, 2);
    assert.match(missing.err, /absent/);
    const context = await cli(['status', ...pool, '--kubeconfig', kubeconfig, '--context', 'there'], { env });
    assert.equal(context.code, 2);
    assert.match(context.err, /the kubeconfig has no context 'there' \(it has 'here'\)/);
    const unreachable = await cli(['status', ...pool, '--kubeconfig', kubeconfig], { env });
    assert.equal(unreachable.code, 1, unreachable.err);
    assert.match(unreachable.err, /cannot reach the cluster at https:\/\/127\.0\.0\.1:9/);
  });

  it('checks the inputs of status and remove as the tasks check theirs', async () => {
    const run = await cli(['remove', '--poolName', 'Linux', '--runnerName', 'Bad Name', '--waitSeconds', 'soon', '--azureDevOpsUrl', 'ftp://x'], { env: { AZURE_DEVOPS_EXT_PAT: pat } });
    assert.equal(run.code, 2);
    assert.match(run.err, /Input '--runnerName': must be a lowercase DNS label/);
    assert.match(run.err, /Input '--waitSeconds': must be a whole number from 0 to 86400; got 'soon'/);
    assert.match(run.err, /Input '--azureDevOpsUrl': must be an http\(s\) URL/);
    assert.match((await cli(['status', ...pool, '--output', 'yaml'], { env: { AZURE_DEVOPS_EXT_PAT: pat } })).err, /Input '--output': must be one of table, json; got 'yaml'/);
  });

  it('has --help for the program and each command, and a usage error for anything else', async () => {
    const top = await cli(['--help']);
    assert.equal(top.code, 0);
    for (const command of Object.keys(commands)) assert.match(top.out, new RegExp(`^  ${command} `, 'm'));
    for (const command of Object.keys(commands)) {
      const help = await cli([command, '--help']);
      assert.equal(help.code, 0);
      assert.equal(help.out, (await cli(['help', command])).out);
      for (const flag of commands[command as keyof typeof commands].flags) assert.match(help.out, new RegExp(`^  --${flag.name}\\b`, 'm'), `${command} --${flag.name}`);
    }
    assert.match((await cli(['deploy', '--help'])).out, /AZURE_DEVOPS_EXT_PAT .*; or --token-stdin/);
    assert.equal((await cli([])).code, 2);
    const unknown = await cli(['destroy']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /unknown command 'destroy'\. Commands: deploy, render, scale, status, remove/);
    assert.equal((await cli(['toString'])).code, 2);
  });
});
