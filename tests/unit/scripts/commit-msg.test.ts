// The repository's commit-msg hook, run by a real git on a scratch repository.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const hooks = new URL('../../../.githooks', import.meta.url).pathname;

test('git refuses a commit whose subject is over 72 characters, and takes one of 72 with a long body', (t) => {
  const repo = mkdtempSync(join(tmpdir(), 'adr-commit-msg-'));
  t.after(() => rmSync(repo, { recursive: true, force: true }));
  const git = (...args: string[]) => spawnSync('git', ['-c', `core.hooksPath=${hooks}`, '-c', 'user.name=T', '-c', 'user.email=t@example.com', ...args], { cwd: repo, encoding: 'utf8' });
  assert.equal(git('init', '-q').status, 0);
  const long = `Scale pass: ${'x'.repeat(61)}`;
  assert.equal([...long].length, 73);
  const refused = git('commit', '-q', '--allow-empty', '-m', long);
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /commit-msg: the commit subject has 73 characters; at most 72/);
  // Characters, not bytes: "é" is two bytes.
  const fits = `Scale pass: ${'é'.repeat(60)}`;
  const taken = git('commit', '-q', '--allow-empty', '-m', fits, '-m', 'a body line may be as long as it needs to be '.repeat(4));
  assert.equal(taken.status, 0, taken.stderr);
  assert.equal(git('log', '--format=%s').stdout.trim(), fits);
});

test('git revert and fixup subjects pass; npm ci sets the hook only in this repository\'s own checkout', (t) => {
  const outer = mkdtempSync(join(tmpdir(), 'adr-outer-'));
  t.after(() => rmSync(outer, { recursive: true, force: true }));
  const git = (cwd: string, ...args: string[]) => spawnSync('git', ['-c', 'user.name=T', '-c', 'user.email=t@example.com', ...args], { cwd, encoding: 'utf8' });
  assert.equal(git(outer, 'init', '-q').status, 0);
  // The repository unpacked inside another one, not a checkout of its own: the outer repository keeps its hooks.
  const copy = join(outer, 'runner');
  cpSync(new URL('../../../scripts', import.meta.url), join(copy, 'scripts'), { recursive: true });
  cpSync(hooks, join(copy, '.githooks'), { recursive: true });
  assert.equal(spawnSync(process.execPath, [join(copy, 'scripts', 'install-hooks.mjs')]).status, 0);
  assert.equal(git(outer, 'config', '--get', 'core.hooksPath').stdout.trim(), '');
  // Its own checkout: set, and a developer's own choice left alone.
  assert.equal(git(copy, 'init', '-q').status, 0);
  assert.equal(spawnSync(process.execPath, [join(copy, 'scripts', 'install-hooks.mjs')]).status, 0);
  assert.equal(git(copy, 'config', '--get', 'core.hooksPath').stdout.trim(), '.githooks');
  assert.equal(git(copy, 'config', 'core.hooksPath', '.husky').status, 0);
  assert.equal(spawnSync(process.execPath, [join(copy, 'scripts', 'install-hooks.mjs')]).status, 0);
  assert.equal(git(copy, 'config', '--get', 'core.hooksPath').stdout.trim(), '.husky');
  // Subjects git writes from a checked one may be longer.
  const long = `Scale pass: ${'x'.repeat(60)}`;
  writeFileSync(join(copy, 'note.txt'), 'a change to revert\n');
  assert.equal(git(copy, 'add', 'note.txt').status, 0);
  assert.equal(git(copy, '-c', `core.hooksPath=${hooks}`, 'commit', '-q', '-m', long).status, 0);
  const reverted = git(copy, '-c', `core.hooksPath=${hooks}`, 'revert', '--no-edit', 'HEAD');
  assert.equal(reverted.status, 0, reverted.stderr);
  assert.match(git(copy, 'log', '-1', '--format=%s').stdout, /^Revert "Scale pass/);
});
