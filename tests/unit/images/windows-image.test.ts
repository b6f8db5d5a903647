// Static checks that the untested Windows image and entrypoint match the Linux ones (settings, modes, build ARGs, the
// typed helper they share).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../../..', import.meta.url).pathname;
const read = (path: string) => readFileSync(join(root, path), 'utf8');

interface Instruction {
  keyword: string;
  args: string;
}

/** Splits a Dockerfile into instructions (continuation lines joined, comments dropped). */
function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let current = '';
  for (const line of text.split(/\r?\n/)) {
    if (/^\s*#/.test(line)) continue;
    const continued = /\\\s*$/.test(line);
    current += (current ? ' ' : '') + line.replace(/\\\s*$/, '').trim();
    if (continued) continue;
    const match = /^(\w+)\s+(.*)$/.exec(current.trim());
    if (match) instructions.push({ keyword: match[1].toUpperCase(), args: match[2] });
    current = '';
  }
  return instructions;
}

function argDefaults(instructions: Instruction[]): Map<string, string> {
  const args = new Map<string, string>();
  for (const { args: text } of instructions.filter((i) => i.keyword === 'ARG')) {
    const [name, ...value] = text.split('=');
    args.set(name.trim(), value.join('='));
  }
  return args;
}

const only = (instructions: Instruction[], keyword: string) => {
  const found = instructions.filter((i) => i.keyword === keyword);
  assert.equal(found.length, 1, `exactly one ${keyword}`);
  return found[0].args;
};

const settingNames = (script: string) => new Set(script.match(/\bAZP_[A-Z_]+[A-Z]\b/g));
// dockerMode podContainers is for Linux pods only (the agent's container paths, the exec helpers' Unix sockets).
const linuxOnly = { settings: ['AZP_POD_CONTAINERS'], modes: ['share-externals'] };

const linux = parseDockerfile(read('images/linux/Dockerfile'));
const windows = parseDockerfile(read('images/windows/Dockerfile'));
const startSh = read('docker/start.sh');
const startPs1 = read('docker/start.ps1');
const startSettings = read('runner/start-settings.ts');

test('both entrypoints read exactly the same settings', () => {
  const sh = settingNames(startSh);
  assert.ok(sh.size >= 11, `start.sh names its settings (${[...sh].join(', ')})`);
  assert.deepEqual([...settingNames(startPs1)].sort(), [...sh].filter((name) => !linuxOnly.settings.includes(name)).sort());
});

test('both entrypoints know the same modes, messages and exit code for a bad setting', () => {
  const modes = ['all', 'register', 'run', 'retire', 'recycle', 'autoscaler', 'docker-proxy'];
  const expected = (list: string[]) => `expected ${list.slice(0, -1).join(', ')} or ${list.at(-1)}`;
  assert.ok(startSh.includes(expected([...modes, ...linuxOnly.modes])));
  assert.ok(startPs1.includes(expected(modes)));
  for (const script of [startSh, startPs1]) {
    assert.match(script, /ConfigError = 78|config_error=78/);
    // The settings' checks and messages are the typed helper's, for both (runner/start-settings.ts).
    assert.match(script, /\$Runner settings \$Mode|"\$runner" settings "\$mode"/);
    assert.match(script, /--replace/);
    assert.match(script, /--once/);
    assert.match(script, /agent\.disableupdate/);
    assert.match(script, /VSTS_AGENT_INPUT_TOKEN/);
  }
  assert.match(startSettings, /AZP_URL is required: the organisation URL/);
});

test('both entrypoints hand the recycle sidecar to the same typed helper, which both images carry', () => {
  assert.match(startSh, /exec "\$node" "\$runner" recycle/);
  assert.match(startSh, /runner=\/usr\/local\/lib\/azp\/runner\.js/);
  assert.match(startPs1, /& \(Get-AgentNode\) \$Runner recycle/);
  assert.match(startPs1, /\$Runner = 'C:\\azp\\runner\.js'/);
  for (const script of [startSh, startPs1]) assert.match(script, /externals.node\*.bin.node/, 'the agent\'s own Node');
  assert.ok(linux.some((i) => i.keyword === 'COPY' && i.args.includes('dist/runner/runner.js')));
  assert.ok(windows.some((i) => i.keyword === 'COPY' && /dist\/runner\/runner\.js C:\/azp\/$/.test(i.args)));
});

test('both images take the same build arguments and pin the same agent', () => {
  const linuxArgs = argDefaults(linux);
  const windowsArgs = argDefaults(windows);
  for (const name of ['BASE_IMAGE', 'AGENT_VERSION', 'AGENT_PACKAGE_URL', 'AGENT_PACKAGE_SHA256']) {
    assert.ok(linuxArgs.has(name), `Linux ARG ${name}`);
    assert.ok(windowsArgs.has(name), `Windows ARG ${name}`);
  }
  assert.ok(linuxArgs.has('EXTRA_PACKAGES'));
  assert.match(linuxArgs.get('AGENT_VERSION') ?? '', /^\d+\.\d+\.\d+$/);
  assert.equal(windowsArgs.get('AGENT_VERSION'), linuxArgs.get('AGENT_VERSION'));
  assert.equal(linuxArgs.get('BASE_IMAGE'), 'ubuntu:24.04');
  const official = 'https://download.agent.dev.azure.com/agent/${AGENT_VERSION}/vsts-agent-';
  assert.ok(linuxArgs.get('AGENT_PACKAGE_URL')?.startsWith(`${official}linux-x64-`));
  assert.ok(windowsArgs.get('AGENT_PACKAGE_URL')?.startsWith(`${official}win-x64-`));
  for (const instructions of [linux, windows]) assert.equal(only(instructions, 'FROM'), '${BASE_IMAGE}');
});

test('both images start their entrypoint as a non-root user, in the default mode', () => {
  const linuxEntrypoint: string[] = JSON.parse(only(linux, 'ENTRYPOINT'));
  const windowsEntrypoint: string[] = JSON.parse(only(windows, 'ENTRYPOINT'));
  assert.equal(linuxEntrypoint[0], '/usr/local/lib/azp/init', 'tini (execute-only copy) is PID 1');
  assert.equal(linuxEntrypoint.at(-1), '/usr/local/bin/start.sh');
  assert.match(windowsEntrypoint.at(-1) ?? '', /start\.ps1$/);
  for (const instructions of [linux, windows]) {
    assert.deepEqual(JSON.parse(only(instructions, 'CMD')), ['all']);
    assert.doesNotMatch(only(instructions, 'USER'), /^(0|root|ContainerAdministrator)(:|$)/i);
  }
  assert.match(only(linux, 'USER'), /^\$\{AGENT_UID\}:\$\{AGENT_UID\}$/);
  assert.equal(argDefaults(linux).get('AGENT_UID'), '10001');
});
