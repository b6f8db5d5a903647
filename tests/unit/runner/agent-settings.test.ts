// runner.js save-registration and restore-registration (runner/agent-settings.ts), as the bundle the entrypoints run,
// as the image's user over real folders: the agent's settings files into AZP_CONFIG_DIR and back, each with its mode
// (the agent's key stays 0600), links neither copied nor written through, nothing printed of them; run mode refuses a
// folder that holds no registration with exit code 78.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { saveRegistration } from '../../../runner/agent-settings.js';
import { agentUid, asRoot, file, folder, link, modeOf, names, runAsAgent, runnerFolder } from '../../support/owned-files.js';

const { dir, bundle } = runnerFolder('agent-settings-');

/** What config.sh writes, and each file's mode; a file's text stands for a secret: it must never be printed. */
const settingsFiles: Record<string, number> = { '.agent': 0o644, '.credentials': 0o600, '.credentials_rsaparams': 0o600, '.env': 0o644 };
const secret = (name: string) => `SECRET contents of ${name}`;

/** The agent root as the image has it: the package's (root's), sticky and open to all. */
function agentRoot(name: string): string {
  const agent = folder(join(dir, name), 0, 0o1777);
  file(join(agent, 'config.sh'), 0, 0o755, '#!/bin/bash\n');
  return agent;
}

describe('runner.js save-registration and restore-registration', { skip: !asRoot && 'the agent\'s settings are the files its user owns: the test runs the bundle as uid 10001 beside files of root\'s, which needs root' }, () => {
  it('saves exactly the agent\'s settings files and restores them, each with its mode: the key stays 0600', () => {
    const agent = agentRoot('agent');
    for (const [name, mode] of Object.entries(settingsFiles)) file(join(agent, name), agentUid, mode, secret(name));
    // Not settings: the agent's log folder, and a link of this user's to a file of its own.
    folder(join(agent, '_diag'));
    link(file(join(dir, 'elsewhere'), agentUid, 0o644, 'elsewhere'), join(agent, '.path'));
    // The config volume holds what an earlier registration left, a read-only folder too.
    const config = folder(join(dir, 'config'), agentUid, 0o700);
    file(join(config, '.agent'), agentUid, 0o644, 'stale');
    folder(join(config, 'stale'));
    file(join(config, 'stale', 'file'));
    chmodSync(join(config, 'stale'), 0o500);

    assert.deepEqual(runAsAgent(bundle, 'save-registration', [agent, config]), { code: 0, stdout: '', stderr: '' });
    assert.deepEqual(names(config), Object.keys(settingsFiles).sort());
    for (const [name, mode] of Object.entries(settingsFiles)) {
      assert.equal(modeOf(join(config, name)), mode, `${name} keeps its mode`);
      assert.equal(readFileSync(join(config, name), 'utf8'), secret(name));
    }

    // A fresh container's agent root, where something planted a link at the key's name to a file of this user's.
    const fresh = agentRoot('fresh');
    const target = file(join(dir, 'target'), agentUid, 0o644, 'target');
    link(target, join(fresh, '.credentials_rsaparams'));
    assert.deepEqual(runAsAgent(bundle, 'restore-registration', [fresh, config]), { code: 0, stdout: '', stderr: '' });
    assert.deepEqual(names(fresh), ['config.sh', ...Object.keys(settingsFiles)].sort());
    for (const [name, mode] of Object.entries(settingsFiles)) {
      assert.ok(lstatSync(join(fresh, name)).isFile(), `${name} is a file of its own`);
      assert.equal(modeOf(join(fresh, name)), mode, `${name} keeps its mode`);
      assert.equal(readFileSync(join(fresh, name), 'utf8'), secret(name));
    }
    assert.equal(readFileSync(target, 'utf8'), 'target', 'nothing was written through the planted link');
  });

  it('restore refuses a folder that holds no registration: exit code 78, one line naming AZP_CONFIG_DIR, nothing copied', () => {
    const agent = agentRoot('refused');
    const config = folder(join(dir, 'no-registration'), 0);
    file(join(config, '.credentials'), 0, 0o644, secret('.credentials'));
    const refused = (path: string) => ({ code: 78, stdout: '', stderr: `runner restore-registration: error: AZP_CONFIG_DIR='${path}' holds no registration: run the register mode first\n` });
    assert.deepEqual(runAsAgent(bundle, 'restore-registration', [agent, config]), refused(config));
    assert.deepEqual(names(agent), ['config.sh']);
    // Nor is a `.agent` that is a folder a registration, nor a folder that is not there.
    mkdirSync(join(config, '.agent'));
    assert.deepEqual(runAsAgent(bundle, 'restore-registration', [agent, config]), refused(config));
    const missing = join(dir, 'no-such-config');
    assert.deepEqual(runAsAgent(bundle, 'restore-registration', [agent, missing]), refused(missing));
  });

  it('save stops with exit code 78 and one line naming AZP_CONFIG_DIR when it can\'t write there', () => {
    const agent = agentRoot('unwritable');
    file(join(agent, '.agent'));
    const config = folder(join(dir, 'root-config'), 0);
    const result = runAsAgent(bundle, 'save-registration', [agent, config]);
    assert.equal(result.code, 78);
    assert.equal(result.stderr, `runner save-registration: error: could not save the agent's settings in AZP_CONFIG_DIR='${config}': EACCES: permission denied, copyfile '${join(agent, '.agent')}' -> '${join(config, '.agent')}'\n`);
  });
});

describe('save-registration\'s Windows rule', () => {
  it('saves the agent root\'s files that .pristine does not list', () => {
    const agent = mkdtempSync(join(dir, 'windows-'));
    mkdirSync(join(agent, 'bin'));
    writeFileSync(join(agent, 'config.cmd'), '');
    writeFileSync(join(agent, '.pristine'), 'bin\r\nconfig.cmd\r\n.pristine\r\n');
    writeFileSync(join(agent, '.agent'), '');
    writeFileSync(join(agent, '.credentials_rsaparams'), '');
    mkdirSync(join(agent, '_diag'));
    const config = mkdtempSync(join(dir, 'windows-config-'));
    saveRegistration({ platform: 'windows', uid: -1, agentDir: agent, configDir: config });
    assert.deepEqual(names(config), ['.agent', '.credentials_rsaparams']);
  });
});
