// Logging-command injection, black box: every input the bundled tasks print is fed values that would make the agent
// run a command (after a line break, after a carriage return, mid-line, or with an ignorable character hidden in the
// prefix). runBundledTask fails a run whose output holds any logging command the task did not mean to write.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureExtension } from '../../../scripts/build.mjs';
import { readTask, taskFolders } from '../../support/task-manifests.js';
import { runBundledTask, unintendedCommands } from '../../support/run-task.js';

const injection = '##vso[task.setvariable variable=injected]pwned';
const hostile: Record<string, string> = {
  'after a line break': `x\n${injection}`,
  'after a carriage return': `x\r${injection}`,
  'mid-line': `x ${injection}`,
  'with a soft hyphen in the prefix': `x #\u00AD${injection.slice(1)}`,
};
/** The same, on one line: what a single-line value (a build argument, an env entry) can carry. */
const oneLine = { 'mid-line': hostile['mid-line'], 'with a soft hyphen in the prefix': hostile['with a soft hyphen in the prefix'] };
const credentials = new Set(['personalAccessToken', 'servicePrincipalClientSecret']);

describe('logging-command injection through inputs', () => {
  before(() => ensureExtension());

  it('the check itself finds each injected command, and passes the commands a task means', () => {
    for (const value of Object.values(hostile)) assert.equal(unintendedCommands('ScaleRunnerPool', value).length, 1, JSON.stringify(value));
    assert.deepEqual(unintendedCommands('ScaleRunnerPool', [
      '##vso[task.debug]x ##vso[task.setvariable variable=injected]data is text',
      '##vso[task.setvariable variable=replicas;isOutput=true;issecret=false;]3',
      '##vso[task.complete result=Failed;]done',
      'plain **vso[ line',
    ].join('\n')), []);
    assert.deepEqual(unintendedCommands('ScaleRunnerPool', '##vso[task.setvariable variable=replicas;isOutput=false;]3'), ['##vso[task.setvariable variable=replicas;isOutput=false;]3']);
  });

  for (const task of taskFolders()) {
    for (const [how, value] of Object.entries(hostile)) {
      it(`${task}: every input ${how} is reported without running a command`, async () => {
        const inputs = Object.fromEntries(readTask(task).inputs.map((input) => [input.name, credentials.has(input.name) ? 'secret-value' : value]));
        const run = await runBundledTask(task, inputs);
        assert.equal(run.result, 'Failed');
        assert.equal(run.outputs.injected, undefined);
      });
    }
  }

  it('BuildRunnerImage: the builder command line and output, with a Dockerfile, context and build argument that carry commands', async (t) => {
    const scratch = mkdtempSync(join(tmpdir(), 'adr-injection-'));
    // A builder stand-in that echoes its arguments on stdout and stderr, as builders echo build arguments and paths.
    const bin = join(scratch, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'buildah'), '#!/bin/sh\nprintf "STEP 1/1: %s\\n" "$*"\nprintf "error: %s\\n" "$*" >&2\nexit 1\n');
    chmodSync(join(bin, 'buildah'), 0o755);
    t.after(() => rmSync(scratch, { recursive: true, force: true }));
    for (const [how, value] of Object.entries(hostile)) {
      const context = join(scratch, value);
      mkdirSync(context);
      writeFileSync(join(context, 'Dockerfile'), 'FROM scratch\n');
      for (const argument of Object.values(oneLine)) {
        const run = await runBundledTask('BuildRunnerImage', {
          imageRepository: 'registry.example.com/runner', dockerfileSource: 'custom', dockerfile: join(context, 'Dockerfile'),
          buildContext: context, buildArguments: `NOTE=${argument}`, push: 'false', builder: 'buildah',
        }, { PATH: `${bin}:${process.env.PATH}` });
        assert.match(run.stdout, /\[command\]buildah build/, how);
        assert.equal(run.result, 'Failed');
      }
    }
  });

  it('DeployRunnerPool: render names a manifest path, pool name and env value that carry commands', async (t) => {
    for (const [how, value] of Object.entries(hostile)) {
      const temp = mkdtempSync(join(tmpdir(), 'adr-injection-'));
      t.after(() => rmSync(temp, { recursive: true, force: true }));
      const manifestPath = join(temp, `${value}.yaml`);
      // A pool name is one line (one with a line break is refused, as every input above): it carries the one-line forms.
      const poolName = Object.values(oneLine).includes(value) ? value : oneLine['mid-line'];
      const run = await runBundledTask('DeployRunnerPool', {
        kubernetesServiceConnection: 'unused', action: 'render', manifestPath, poolName, runnerName: 'linux', azureDevOpsUrl: 'https://dev.azure.com/contoso',
        image: 'registry.example.com/runner:1', personalAccessToken: 'secret-value', env: `NOTE=${oneLine['mid-line']}`,
      }, { AGENT_TEMPDIRECTORY: temp });
      assert.equal(run.result, 'Succeeded', `${how}: ${run.message}`);
      assert.equal(run.outputs.manifestPath, manifestPath.replace(/\r/g, '%0D').replace(/\n/g, '%0A'));
    }
  });
});
