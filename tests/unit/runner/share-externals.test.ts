// The init container's copy of the agent's externals (runner/share-externals.ts); start.sh's side, run on the real
// bundle, is in tests/unit/images/pod-containers-image.test.ts.
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shareExternals } from '../../../runner/share-externals.js';
import { SettingError } from '../../../runner/settings.js';

const dir = mkdtempSync(join(tmpdir(), 'share-externals-'));
const externals = join(dir, 'externals');
mkdirSync(join(externals, 'node24', 'bin'), { recursive: true });
writeFileSync(join(externals, 'node24', 'bin', 'node'), '');
chmodSync(join(externals, 'node24', 'bin', 'node'), 0o755);
// The agent package links its git's tools to each other: a copy keeps such a link a link, as `cp -R` did.
mkdirSync(join(externals, 'git', 'bin'), { recursive: true });
symlinkSync('git', join(externals, 'git', 'bin', 'git-upload-pack'));
const runnerJs = join(dir, 'runner.js');
writeFileSync(runnerJs, '// runner');

test('shares the externals into the volume, links kept as links, the Node linked relatively, runner.js beside it', () => {
  const target = join(dir, 'volume');
  mkdirSync(target);
  chmodSync(target, 0o770);
  shareExternals({ externals, node: join(externals, 'node24', 'bin', 'node'), runnerJs, target });
  assert.equal(readlinkSync(join(target, 'git', 'bin', 'git-upload-pack')), 'git');
  assert.equal(readlinkSync(join(target, 'azp-runner', 'node')), join('..', 'node24', 'bin', 'node'));
  assert.equal(lstatSync(join(target, 'node24', 'bin', 'node')).mode & 0o777, 0o755, 'a tool stays executable');
  assert.equal(lstatSync(target).mode & 0o777, 0o770, 'the volume keeps its own mode');
  assert.ok(lstatSync(join(target, 'azp-runner', 'runner.js')).isFile());
});

test('refuses a volume it cannot write and a Node outside the externals, before copying anything', () => {
  const refused = (target: string, node: string) => assert.throws(() => shareExternals({ externals, node, runnerJs, target }), SettingError);
  refused(join(dir, 'missing'), join(externals, 'node24', 'bin', 'node'));
  refused('', join(externals, 'node24', 'bin', 'node'));
  const target = join(dir, 'other');
  mkdirSync(target);
  refused(target, '/usr/bin/node');
});

test('run again on what an earlier run left (the init container restarts in place), replaces it whole', () => {
  const target = join(dir, 'again');
  mkdirSync(join(target, 'node24'), { recursive: true });
  writeFileSync(join(target, 'node24', 'partial'), '');
  const node = join(externals, 'node24', 'bin', 'node');
  shareExternals({ externals, node, runnerJs, target });
  shareExternals({ externals, node, runnerJs, target });
  assert.ok(!existsSync(join(target, 'node24', 'partial')), 'the cut-off copy is gone');
  assert.equal(readlinkSync(join(target, 'azp-runner', 'node')), join('..', 'node24', 'bin', 'node'));
  assert.equal(readlinkSync(join(target, 'git', 'bin', 'git-upload-pack')), 'git');
});

test('passes over a FIFO instead of waiting on it for ever', () => {
  const withFifo = join(dir, 'with-fifo');
  mkdirSync(join(withFifo, 'node24', 'bin'), { recursive: true });
  writeFileSync(join(withFifo, 'node24', 'bin', 'node'), '');
  assert.equal(spawnSync('mkfifo', [join(withFifo, 'pipe')]).status, 0);
  const target = join(dir, 'fifo-volume');
  mkdirSync(target);
  // In a child: a copy that opened the FIFO would never return.
  const share = `import(${JSON.stringify(new URL('../../../runner/share-externals.ts', import.meta.url).href)}).then((m) => m.shareExternals(${JSON.stringify({ externals: withFifo, node: join(withFifo, 'node24', 'bin', 'node'), runnerJs, target })}))`;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', share], { timeout: 20_000, encoding: 'utf8' });
  assert.equal(child.status, 0, child.error?.message ?? child.stderr);
  assert.ok(!existsSync(join(target, 'pipe')), 'the FIFO is not copied');
  assert.ok(lstatSync(join(target, 'node24', 'bin', 'node')).isFile());
});
