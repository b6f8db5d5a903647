// dockerMode podContainers in the runner image: the files that wire the `docker` shim (runner/bin/docker) in — the
// image carries it where start.sh puts it first on the agent's PATH, start.sh shares the agent's externals with the
// job containers, and both run on the Node and runner.js they share. Run in bash with start.sh's own functions; that
// the shim works in a real pod is the e2e's to show.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRunner } from '../../../scripts/build.mjs';

const read = (path: string) => readFileSync(new URL(`../../../${path}`, import.meta.url), 'utf8');
const startSh = read('docker/start.sh');
const shim = new URL('../../../runner/bin/docker', import.meta.url).pathname;
const functionOf = (name: string) => {
  const found = new RegExp(`^${name}\\(\\) \\{\\n[\\s\\S]*?^\\}$`, 'm').exec(startSh);
  assert.ok(found, `start.sh defines ${name}`);
  return found[0];
};
/** A `readonly name=value` of start.sh. */
const setting = (name: string) => {
  const found = new RegExp(`^readonly ${name}=(\\S+)`, 'm').exec(startSh);
  assert.ok(found, `start.sh sets ${name}`);
  return found[1];
};

const dir = mkdtempSync(join(tmpdir(), 'pod-containers-image-'));
const bundle = join(dir, 'bundle', 'runner.js');
before(() => buildRunner(bundle));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the image carries the shim at the folder start.sh puts first on PATH, and the shim finds runner.js and the agent', () => {
  const shimDir = setting('shim_dir');
  assert.match(read('images/linux/Dockerfile'), /^COPY .* runner\/bin\/docker \/tmp\/azp-build\/$/m, 'the build copies the shim in');
  assert.match(read('images/linux/install.sh'), new RegExp(`^install -D -m 0755 /tmp/azp-build/docker ${shimDir}/docker$`, 'm'));
  assert.match(read('.dockerignore'), /^!runner\/bin\/docker$/m, 'the build context holds it');
  assert.match(read('scripts/build.mjs'), /\['runner\/bin\/docker', 'runner-image\/runner\/bin\/docker'\]/, 'BuildRunnerImage carries it');
  const text = readFileSync(shim, 'utf8');
  assert.ok(text.includes(`runner=\${AZP_RUNNER_JS:-${setting('runner')}}`), 'the shim runs the image\'s runner.js');
  assert.ok(text.includes(`\${AZP_AGENT_DIR:-${setting('agent_dir')}}`), 'and the Node of the image\'s agent');
});

/** start.sh's agent environment for a PATH and an AZP_POD_CONTAINERS: `docker` as found, PATH, VSO_AGENT_IGNORE. */
function agentEnvironment(path: string, podContainers?: string): string[] {
  const fakeShimDir = join(dir, 'shim-bin');
  mkdirSync(fakeShimDir, { recursive: true });
  writeFileSync(join(fakeShimDir, 'docker'), '#!/bin/sh\n');
  chmodSync(join(fakeShimDir, 'docker'), 0o755);
  const line = /^\[ -z "\$\{AZP_POD_CONTAINERS:-\}" \] \|\| PATH=\$shim_dir:\$PATH$/m.exec(startSh);
  assert.ok(line, 'start.sh prepends the shim folder with AZP_POD_CONTAINERS');
  const script = [
    'set -euo pipefail', `readonly shim_dir=${fakeShimDir}`, `readonly ${/^readonly secret_names=.*$/m.exec(startSh)![0].slice('readonly '.length)}`,
    functionOf('ignored_names'), line[0], 'echo "$(command -v docker || echo none)"', 'echo "$PATH"', 'echo "$(ignored_names)"',
  ].join('\n');
  // --norc: stdin is a socket (libuv's), which bash takes for a remote shell's and would read ~/.bashrc for.
  const { stdout, status, stderr } = spawnSync('bash', ['--norc', '-c', script], { encoding: 'utf8', env: { PATH: path, ...(podContainers && { AZP_POD_CONTAINERS: podContainers }) } });
  assert.equal(status, 0, stderr);
  return stdout.trim().split('\n').map((out) => out.replace(fakeShimDir, '<shim>'));
}

test('start.sh puts the shim first on the agent\'s PATH, keeping a derived image\'s, and its setting out of the capabilities', () => {
  // A derived image's own folder, with a `docker` of its own (a Docker CLI installed for another mode).
  const derived = join(dir, 'derived-bin');
  mkdirSync(derived, { recursive: true });
  writeFileSync(join(derived, 'docker'), '#!/bin/sh\n');
  chmodSync(join(derived, 'docker'), 0o755);
  const path = `${derived}:/usr/bin:/bin`;
  const ignored = 'AZP_TOKEN,AZP_TOKEN_FILE,AZP_CLIENT_ID,AZP_TENANT_ID,AZP_CLIENT_SECRET,AZP_CLIENT_SECRET_FILE,AZP_RECYCLE_DIR';
  assert.deepEqual(agentEnvironment(path, '{"containers":[]}'), ['<shim>/docker', `<shim>:${path}`, `${ignored},AZP_POD_CONTAINERS,AGENT_TOOLSDIRECTORY`]);
  assert.deepEqual(agentEnvironment(path), [`${derived}/docker`, path, ignored], 'other modes keep their PATH and capabilities');
});

test('share-externals gives the job containers the agent\'s externals, runner.js and the newest Node, which run the shim and the exec helper', () => {
  const agentDir = join(dir, 'agent');
  for (const node of ['node20_1', 'node24']) {
    mkdirSync(join(agentDir, 'externals', node, 'bin'), { recursive: true });
    symlinkSync(process.execPath, join(agentDir, 'externals', node, 'bin', 'node'));
  }
  writeFileSync(join(agentDir, 'externals', 'node24', 'LICENSE'), 'x');
  const target = join(dir, 'shared');
  mkdirSync(target);
  const script = [
    'set -euo pipefail', 'readonly config_error=78', `agent_dir=${agentDir}`, `runner=${bundle}`, 'log() { echo "$*"; }',
    functionOf('fail'), functionOf('agent_node'), functionOf('share_externals'), `share_externals ${target}`,
  ].join('\n');
  const shared = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
  assert.equal(shared.status, 0, shared.stderr);
  assert.ok(existsSync(join(target, 'node24', 'LICENSE')) && existsSync(join(target, 'node20_1', 'bin', 'node')), 'the externals, whole');
  assert.equal(readlinkSync(join(target, 'azp-runner', 'node')), '../node24/bin/node', 'a link that resolves wherever the volume is mounted');
  assert.equal(realpathSync(join(target, 'azp-runner', 'node')), realpathSync(process.execPath));
  assert.equal(readFileSync(join(target, 'azp-runner', 'runner.js'), 'utf8'), readFileSync(bundle, 'utf8'));
  // The agent's `docker`, as the agent's container runs it: the shared externals at the agent's, the image's runner.js.
  const setting = JSON.stringify({ agentDir: join(dir, 'pod-agent'), socketDir: join(dir, 'sockets'), stateFile: join(dir, 'state.json'), containers: [{ name: 'build', image: 'debian:12' }] });
  mkdirSync(join(dir, 'pod-agent'));
  symlinkSync(target, join(dir, 'pod-agent', 'externals'));
  const version = spawnSync(shim, ['version', '--format', '{{.Server.APIVersion}}'], { encoding: 'utf8', env: { PATH: process.env.PATH, AZP_AGENT_DIR: join(dir, 'pod-agent'), AZP_RUNNER_JS: join(target, 'azp-runner', 'runner.js'), AZP_POD_CONTAINERS: setting } });
  assert.deepEqual([version.status, version.stdout.trim()], [0, '1.41'], version.stderr);
  // A job container's exec helper, as its manifest starts it: the shared link and runner.js.
  const helper = spawnSync(join(target, 'azp-runner', 'node'), [join(target, 'azp-runner', 'runner.js'), 'exec-server'], { encoding: 'utf8' });
  assert.deepEqual([helper.status, helper.stderr.trim()], [64, 'runner exec-server: error: exec-server needs the socket to listen on: runner.js exec-server <socket dir>/<container name>.sock']);
});
