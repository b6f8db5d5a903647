// Run by `npm ci`/`npm install` (prepare): git runs the repository's own hooks (.githooks). Only in this repository's
// own checkout (not an outer one it was unpacked into, not a release tarball), and never over hooks a developer chose.
import { spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = realpathSync(fileURLToPath(new URL('..', import.meta.url)));
const git = (...args) => spawnSync('git', args, { cwd: root, encoding: 'utf8' });
const top = git('rev-parse', '--show-toplevel');
const chosen = git('config', '--get', 'core.hooksPath').stdout.trim();
if (top.status === 0 && realpathSync(top.stdout.trim()) === root && (chosen === '' || chosen === '.githooks')) {
  git('config', 'core.hooksPath', '.githooks');
}
