// The entrypoint's settings (runner/start-settings.ts): defaults, each check with the message users match, every problem
// at once, and the NAME=value lines the shells read, which no value can break into two.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRunner } from '../../../scripts/build.mjs';
import { formatStartSettings, readStartSettings, type StartContext } from '../../../runner/start-settings.js';
import { SettingError } from '../../../runner/settings.js';

const writable = new Set(['/config', '/recycle']);
const context = (env: Record<string, string>, more: Partial<StartContext> = {}): StartContext => ({
  platform: 'linux', env: { AZP_URL: 'https://dev.azure.com/contoso', ...env }, hostName: 'linux-3',
  credentials: new Set(['AZP_TOKEN']), writableDir: (path) => writable.has(path), ...more,
});
const problems = (mode: string, ctx: StartContext) => {
  try {
    readStartSettings(mode, ctx);
  } catch (caught) {
    assert.ok(caught instanceof SettingError, String(caught));
    return caught.message.split('\n');
  }
  return [];
};

describe('the entrypoint\'s settings', () => {
  it('applies the defaults, the agent named after the host', () => {
    assert.deepEqual(readStartSettings('all', context({})), {
      AZP_URL: 'https://dev.azure.com/contoso', AZP_POOL: 'Default', AZP_AGENT_NAME: 'linux-3', AZP_WORK: '_work',
      AZP_REMOVE_ON_EXIT: 'false', AZP_CONFIG_DIR: '', AZP_REGISTRATION: 'pod', AZP_RECYCLE_DIR: '', auth: 'pat',
    });
    const run = readStartSettings('run', context({ AZP_CONFIG_DIR: '/read-only', AZP_REGISTRATION: 'autoscaler', AZP_RECYCLE_DIR: '/recycle' }, { credentials: new Set() }));
    assert.deepEqual([run.auth, run.AZP_CONFIG_DIR, run.AZP_REGISTRATION, run.AZP_RECYCLE_DIR], ['none', '/read-only', 'autoscaler', '/recycle']);
    assert.equal(readStartSettings('register', context({ AZP_CONFIG_DIR: '/config' }, { credentials: new Set(['AZP_CLIENT_ID', 'AZP_TENANT_ID', 'AZP_CLIENT_SECRET_FILE']) })).auth, 'sp');
  });

  it('names each wrong setting, every one at once', () => {
    const found = problems('all', context({
      AZP_URL: 'dev.azure.com/contoso', AZP_POOL: 'a\nb', AZP_AGENT_NAME: 'bad name!', AZP_WORK: 'w/../etc', AZP_REMOVE_ON_EXIT: 'yes',
      AZP_REGISTRATION: 'autoscaler', AZP_RECYCLE_DIR: '/recycle', AZP_CONFIG_DIR: '/nowhere',
    }, { credentials: new Set(['AZP_TOKEN', 'AZP_CLIENT_ID']) }));
    assert.deepEqual(found, [
      "AZP_URL='dev.azure.com/contoso' is not an http(s) organisation URL, e.g. https://dev.azure.com/contoso",
      'AZP_POOL must be a pool name (1-128 printable characters)',
      "AZP_AGENT_NAME='bad name!' must be 1-64 letters, digits, '.', '_' or '-' (default: the host name)",
      "AZP_WORK='w/../etc' must be a directory path without '..'",
      'AZP_REMOVE_ON_EXIT must be true or false',
      "AZP_CONFIG_DIR='/nowhere' is not a writable directory",
      'AZP_REGISTRATION=autoscaler is for run mode: the autoscaler registers the agent',
      'AZP_RECYCLE_DIR is for run mode, next to a recycle sidecar',
      'set either a PAT (AZP_TOKEN or AZP_TOKEN_FILE) or a service principal (AZP_CLIENT_ID, AZP_TENANT_ID, AZP_CLIENT_SECRET), not both',
    ]);
  });

  it('asks for what a mode needs, and refuses a credential in run mode', () => {
    assert.deepEqual(problems('run', context({ AZP_URL: '', AZP_REMOVE_ON_EXIT: 'true' })), [
      'AZP_URL is required: the organisation URL, e.g. https://dev.azure.com/contoso',
      'AZP_REMOVE_ON_EXIT=true needs the credential, which run mode never has: use the retire mode instead',
      'AZP_CONFIG_DIR is required in run mode: the directory shared by register and run',
      'run mode takes no credential (AZP_TOKEN, AZP_TOKEN_FILE, AZP_CLIENT_ID, AZP_TENANT_ID, AZP_CLIENT_SECRET, AZP_CLIENT_SECRET_FILE): the job would run next to it; register in register mode',
    ]);
    assert.deepEqual(problems('retire', context({}, { credentials: new Set() })), [
      'no credential: set AZP_TOKEN_FILE or AZP_TOKEN (a PAT with Agent Pools read & manage), or AZP_CLIENT_ID, AZP_TENANT_ID and AZP_CLIENT_SECRET (a service principal)',
    ]);
    assert.deepEqual(problems('register', context({ AZP_CONFIG_DIR: '/config' }, { credentials: new Set(['AZP_TOKEN', 'AZP_TOKEN_FILE']) })), ['set AZP_TOKEN or AZP_TOKEN_FILE, not both']);
    assert.deepEqual(problems('all', context({}, { credentials: new Set(['AZP_CLIENT_SECRET', 'AZP_CLIENT_SECRET_FILE']) })), [
      'AZP_CLIENT_ID is required for service principal registration',
      'AZP_TENANT_ID is required for service principal registration',
      'set AZP_CLIENT_SECRET or AZP_CLIENT_SECRET_FILE, not both',
    ]);
    assert.deepEqual(problems('run', context({ AZP_CONFIG_DIR: '/config', AZP_RECYCLE_DIR: '/tmp/not-ours' }, { credentials: new Set() })), [
      "AZP_RECYCLE_DIR='/tmp/not-ours' is not a writable directory (the volume shared with the recycle sidecar)",
    ]);
    assert.match(problems('recycle', context({}))[0], /the settings are for the all, register, run, retire modes, not 'recycle'/);
  });

  it('keeps Windows\' own rules: its path separators, and registration by the pod only', () => {
    const windows = (env: Record<string, string>) => problems('run', context({ AZP_CONFIG_DIR: 'C:\\config', ...env }, { platform: 'windows', credentials: new Set() }));
    assert.deepEqual(windows({ AZP_WORK: 'C:\\w\\..\\Windows' }), ["AZP_WORK='C:\\w\\..\\Windows' must be a directory path without '..'"]);
    assert.deepEqual(windows({ AZP_REGISTRATION: 'autoscaler' }), ['AZP_REGISTRATION must be pod on Windows: the in-cluster autoscaler registers Linux agents only']);
    assert.deepEqual(problems('run', context({ AZP_CONFIG_DIR: '/c', AZP_WORK: 'C:\\w\\..\\x' }, { credentials: new Set() })), [], 'a backslash is a name\'s character on Linux');
  });

  it('shows a wrong value on one line, never as a logging command, and refuses what is not UTF-8', () => {
    assert.deepEqual(problems('run', context({ AZP_CONFIG_DIR: '/config', AZP_AGENT_NAME: '##vso[task.setvariable variable=X]evil', AZP_WORK: 'w\r##vso[task.complete]' }, { credentials: new Set() })), [
      "AZP_AGENT_NAME='**vso[task.setvariable variable=X]evil' must be 1-64 letters, digits, '.', '_' or '-' (default: the host name)",
      "AZP_WORK='w\\r**vso[task.complete]' must be a directory path without '..'",
    ]);
    // Node reads an environment value that is not UTF-8 with U+FFFD in place of the bytes: not the path the shell uses.
    assert.deepEqual(problems('run', context({ AZP_CONFIG_DIR: '/config', AZP_WORK: '/tmp/caf\uFFFD' }, { credentials: new Set() })), ["AZP_WORK='/tmp/caf\uFFFD' must be a directory path without '..'"]);
    assert.equal(readStartSettings('all', context({ AZP_URL: 'HTTPS://dev.azure.com/contoso' })).AZP_URL, 'HTTPS://dev.azure.com/contoso', 'a scheme in capitals');
  });

  it('prints one line a setting, and no value can add a line', () => {
    for (const name of ['AZP_URL', 'AZP_POOL', 'AZP_AGENT_NAME', 'AZP_WORK', 'AZP_CONFIG_DIR', 'AZP_RECYCLE_DIR', 'AZP_REGISTRATION', 'AZP_REMOVE_ON_EXIT']) {
      for (const breaker of ['\n', '\r', '\u0085', '\u001b']) {
        const value = `/recycle${breaker}auth=sp`;
        assert.ok(problems('run', context({ AZP_CONFIG_DIR: '/config', [name]: value }, { credentials: new Set() })).length > 0, `${name} with ${JSON.stringify(breaker)}`);
      }
    }
    const lines = formatStartSettings(readStartSettings('all', context({ AZP_URL: 'https://dev.azure.com/contoso/a=b', AZP_POOL: 'pool = one' }))).trimEnd().split('\n');
    assert.deepEqual(lines, ['AZP_URL=https://dev.azure.com/contoso/a=b', 'AZP_POOL=pool = one', 'AZP_AGENT_NAME=linux-3', 'AZP_WORK=_work', 'AZP_REMOVE_ON_EXIT=false', 'AZP_CONFIG_DIR=', 'AZP_REGISTRATION=pod', 'AZP_RECYCLE_DIR=', 'auth=pat']);
  });

  it('is the bundled runner.js command the entrypoints call: lines out, or each problem on stderr and exit code 78', async () => {
    const config = mkdtempSync(join(tmpdir(), 'start-settings-'));
    const bundle = join(config, 'bundle', 'runner.js');
    await buildRunner(bundle);
    const env = { PATH: process.env.PATH, HOSTNAME: 'linux-7', AZP_URL: 'https://dev.azure.com/contoso', AZP_CONFIG_DIR: config };
    const out = execFileSync(process.execPath, [bundle, 'settings', 'register', 'AZP_TOKEN_FILE'], { env, encoding: 'utf8' });
    assert.match(out, new RegExp(`^AZP_AGENT_NAME=linux-7$[\\s\\S]*^AZP_CONFIG_DIR=${config}$[\\s\\S]*^auth=pat$`, 'm'));
    for (const [args, code, message] of [
      [['settings', 'run'], 78, /^runner settings: error: AZP_CONFIG_DIR='.*' is not|^runner settings: error: AZP_REMOVE/m],
      [['settings', 'run', 'AZP_TOKEN'], 78, /^runner settings: error: run mode takes no credential/m],
      [['settings', 'all', 'ghp_secret'], 64, /^runner settings: error: settings takes only the names of the credential settings set \([^)]*\)$/m],
    ] as const) {
      try {
        execFileSync(process.execPath, [bundle, ...args], { env: { ...env, AZP_REMOVE_ON_EXIT: 'true' }, encoding: 'utf8', stdio: 'pipe' });
        assert.fail(`${args.join(' ')} succeeded`);
      } catch (caught) {
        const failed = caught as { status: number; stderr: string };
        assert.equal(failed.status, code, failed.stderr);
        assert.match(failed.stderr, message);
        assert.doesNotMatch(failed.stderr, /ghp_secret/);
      }
    }
  });
});
