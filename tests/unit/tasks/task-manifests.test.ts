// Checks every task.json the way the agent and Microsoft's task build do, and that vss-extension.json ships them all.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readExtensionManifest, readTask, taskFolders, type TaskManifest } from '../../support/task-manifests.js';

const inputTypes = /^(boolean|filePath|multiLine|pickList|radio|secureFile|string|int|identities|querycontrol|connectedService:[A-Za-z]+)$/;
const guid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const folders = taskFolders();

/** The input names a visibleRule refers to; rules must be plain `a = x && b != y` (no || mixed in, no parentheses). */
function ruleInputs(rule: string): string[] {
  assert.doesNotMatch(rule, /[()]/, `visibleRule '${rule}' uses parentheses`);
  assert.ok(!(rule.includes('&&') && rule.includes('||')), `visibleRule '${rule}' mixes && and ||`);
  return rule.split(/&&|\|\|/).map((clause) => {
    const match = /^\s*([A-Za-z][A-Za-z0-9]*)\s*(=|!=|==|<|>|<=|>=|NotEndsWith|EndsWith|NotContains|Contains)\s*\S*\s*$/.exec(clause);
    assert.ok(match, `visibleRule clause '${clause}' is not 'input op value'`);
    return match[1];
  });
}

describe('task.json files', () => {
  it('there are the three tasks', () => {
    assert.deepEqual(folders, ['BuildRunnerImage', 'DeployRunnerPool', 'ScaleRunnerPool']);
  });

  it('ids are distinct GUIDs', () => {
    const ids = folders.map((f) => readTask(f).id);
    for (const id of ids) assert.match(id, guid);
    assert.equal(new Set(ids).size, ids.length);
  });

  for (const folder of folders) {
    describe(folder, () => {
      const task: TaskManifest = readTask(folder);
      const inputNames = new Set(task.inputs.map((i) => i.name));

      it('has the fields the agent and the marketplace require', () => {
        assert.equal(task.name, folder);
        assert.match(task.name, /^[A-Za-z0-9]+$/);
        assert.ok(task.friendlyName.length > 0 && task.friendlyName.length <= 40, 'friendlyName is 1-40 characters');
        for (const field of ['description', 'category', 'author', 'instanceNameFormat'] as const) {
          assert.ok(task[field].length > 0, `${field} is set`);
        }
        for (const part of ['Major', 'Minor', 'Patch'] as const) assert.ok(Number.isInteger(task.version[part]));
      });

      it('runs on the Node 20 and Node 24 handlers from one bundled file', () => {
        assert.deepEqual(Object.keys(task.execution).sort(), ['Node20_1', 'Node24']);
        assert.deepEqual(new Set(Object.values(task.execution).map((h) => h.target)), new Set(['index.js']));
        // Node20_1 needs agent 4.248.0; newer agents pick Node24 themselves.
        assert.equal(task.minimumAgentVersion, '4.248.0');
      });

      it('declares well-formed inputs in declared groups', () => {
        const groups = new Set((task.groups ?? []).map((g) => g.name));
        const names = task.inputs.flatMap((i) => [i.name, ...(i.aliases ?? [])]);
        assert.equal(new Set(names).size, names.length, 'input names and aliases are unique');
        for (const input of task.inputs) {
          assert.match(input.name, /^[A-Za-z][A-Za-z0-9]*$/, `input name ${input.name}`);
          assert.ok(input.label.length > 0, `${input.name} has a label`);
          assert.match(input.type, inputTypes, `${input.name} type ${input.type}`);
          assert.ok((input.helpMarkDown ?? '').length > 0, `${input.name} has help text`);
          if (input.groupName !== undefined) assert.ok(groups.has(input.groupName), `${input.name} group ${input.groupName}`);
          if (input.type === 'pickList') {
            assert.ok(input.options && Object.keys(input.options).length > 1, `${input.name} has options`);
            if (input.defaultValue) assert.ok(input.defaultValue in input.options, `${input.name} default is an option`);
          }
        }
      });

      it('refers only to existing inputs in visibleRules and instanceNameFormat', () => {
        for (const input of task.inputs) {
          if (input.visibleRule === undefined) continue;
          for (const name of ruleInputs(input.visibleRule)) assert.ok(inputNames.has(name), `${input.name}: ${name} exists`);
        }
        for (const [, name] of task.instanceNameFormat.matchAll(/\$\(([^)]+)\)/g)) {
          assert.ok(inputNames.has(name), `instanceNameFormat input ${name} exists`);
        }
      });

      it('declares output variables with valid names', () => {
        assert.ok((task.outputVariables ?? []).length > 0);
        for (const output of task.outputVariables ?? []) {
          assert.match(output.name, /^[A-Za-z][A-Za-z0-9]*$/);
          assert.ok(output.description.length > 0);
        }
      });
    });
  }

  it('gives inputs shared between tasks one meaning', () => {
    const seen = new Map<string, { folder: string; type: string; label: string }>();
    for (const folder of folders) {
      for (const input of readTask(folder).inputs) {
        const earlier = seen.get(input.name);
        if (earlier) {
          assert.equal(input.type, earlier.type, `${input.name}: type in ${folder} and ${earlier.folder}`);
          assert.equal(input.label, earlier.label, `${input.name}: label in ${folder} and ${earlier.folder}`);
        } else seen.set(input.name, { folder, type: input.type, label: input.label });
      }
    }
  });
});

describe('vss-extension.json', () => {
  const manifest = readExtensionManifest();

  it('contributes exactly the task folders, each shipped in files', () => {
    const tasks = manifest.contributions.filter((c) => c.type === 'ms.vss-distributed-task.task');
    assert.deepEqual(tasks.map((c) => c.properties.name).sort(), folders.map((f) => `tasks/${f}`));
    for (const c of tasks) assert.deepEqual(c.targets, ['ms.vss-distributed-task.tasks']);
    const files = new Set(manifest.files.map((f) => f.path));
    for (const folder of folders) assert.ok(files.has(`tasks/${folder}`), `files ships tasks/${folder}`);
    assert.equal(new Set(manifest.contributions.map((c) => c.id)).size, manifest.contributions.length);
  });

  it('has a semantic version', () => {
    assert.match(manifest.version, /^\d+\.\d+\.\d+$/);
  });
});
