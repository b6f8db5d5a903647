// The TaskHost reads two task-lib internals (its input store and key rule) to read inputs without their debug echo:
// they hold only for the exact version package.json pins.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as internal from 'azure-pipelines-task-lib/internal.js';
import { repoRoot } from '../../support/task-manifests.js';

describe('task-lib internals the TaskHost reads', () => {
  it('come from the exact task-lib version package.json pins', () => {
    const wanted = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).dependencies['azure-pipelines-task-lib'] as string;
    assert.match(wanted, /^\d+\.\d+\.\d+$/, 'an exact version, not a range');
    const installed = JSON.parse(readFileSync(join(repoRoot, 'node_modules', 'azure-pipelines-task-lib', 'package.json'), 'utf8')).version;
    assert.equal(installed, wanted);
  });

  it('name an input INPUT_<NAME> in the vault task.js loads (the bundled task runs read every input through it)', () => {
    assert.equal(internal._getVariableKey('agent.tempDirectory name'), 'AGENT_TEMPDIRECTORY_NAME');
    assert.ok('_vault' in internal);
  });
});
