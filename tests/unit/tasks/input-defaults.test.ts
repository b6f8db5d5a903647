// One rule for empty inputs, checked against every task.json: an input left empty reads exactly as its default
// (a $(Variable) default as that variable's value), whatever the input's kind.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InputReader } from '../../../src/core/inputs.js';
import { readBuildImageOptions } from '../../../src/core/build-options.js';
import { readDeployOptions } from '../../../src/core/deploy-options.js';
import { readScaleOptions } from '../../../src/core/scale-options.js';
import { MemoryHost } from '../../support/memory-host.js';
import { readTask } from '../../support/task-manifests.js';

const variables: Record<string, string> = { 'Build.BuildId': '42', 'System.CollectionUri': 'https://dev.azure.com/contoso/' };
const connection = { kubernetesServiceConnection: 'k8s', poolName: 'Linux', runnerName: 'linux', personalAccessToken: 'pat' };
const tasks: Record<string, { read: (inputs: InputReader) => unknown; bases: Array<Record<string, string>> }> = {
  BuildRunnerImage: { read: readBuildImageOptions, bases: [{ imageRepository: 'r.example.com/runner', dockerRegistryServiceConnection: 'reg' }] },
  DeployRunnerPool: { read: readDeployOptions, bases: [{ ...connection, image: 'r.example.com/runner:1', dockerMode: 'hostSocket' }] },
  ScaleRunnerPool: { read: readScaleOptions, bases: [connection, { ...connection, mode: 'fixed' }] },
};

describe('empty inputs take their defaults', () => {
  for (const [task, { read, bases }] of Object.entries(tasks)) {
    for (const input of readTask(task).inputs.filter((i) => i.defaultValue !== undefined && i.defaultValue !== '')) {
      it(`${task}: ${input.name} empty reads as '${input.defaultValue}'`, () => {
        const resolved = input.defaultValue!.replace(/^\$\((.+)\)$/, (_, name: string) => variables[name]);
        for (const base of bases) {
          const options = (value: string) => read(new InputReader(new MemoryHost({ ...base, [input.name]: value }, {}, variables)));
          assert.deepEqual(options(''), options(resolved));
        }
      });
    }
  }
});
