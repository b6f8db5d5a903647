// The Files port over node:fs.
import { copyFileSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
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
  writeTarget,
  isWithin(path, folder) {
    const rest = relative(folder, path);
    return rest === '' || (!rest.startsWith('..') && !isAbsolute(rest));
  },
};

function writeTarget(path: string, hops = 0): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    // Missing, or a link to something missing: a write creates what the link points at.
  }
  try {
    if (hops < 40 && lstatSync(path).isSymbolicLink()) return writeTarget(resolve(dirname(path), readlinkSync(path)), hops + 1);
  } catch {
    // Nothing there at all.
  }
  try {
    return join(realpathSync(dirname(resolve(path))), basename(path));
  } catch {
    return undefined;
  }
}
