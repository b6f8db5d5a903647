// The Files port over node:fs.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Files } from '../core/ports/files.js';

export const nodeFiles: Files = {
  kind(path) {
    try {
      const stat = statSync(path);
      return stat.isDirectory() ? 'directory' : 'file';
    } catch {
      return undefined;
    }
  },
  read: (path) => readFileSync(path, 'utf8'),
  write: (path, text, options) => writeFileSync(path, text, options?.private ? { mode: 0o600 } : {}),
  copy: (from, to) => copyFileSync(from, to),
  makeTempDir: (parent, prefix) => mkdtempSync(join(parent, prefix)),
  remove: (path) => rmSync(path, { recursive: true, force: true }),
  join: (...parts) => join(...parts),
  dirname: (path) => dirname(path),
};
