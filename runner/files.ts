// What the runner's commands do to files, by hand rather than with fs.cpSync or fs.rmSync: the bundle runs on the
// agent's Node from 16 on, whose cpSync was experimental and kept no link verbatim, and each must hold to one rule
// whatever a job left behind: a link is copied or removed as the link itself, never followed.
import { chmodSync, copyFileSync, lstatSync, mkdirSync, readdirSync, readlinkSync, rmdirSync, rmSync, symlinkSync, unlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';

/**
 * Copies what `from` holds into the existing directory `to`, as `cp -R from/. to/` does: links as links (the agent's
 * are relative), files and folders with their modes; nothing else. What `to` held under the same name is replaced,
 * never written through.
 */
export function copyInto(from: string, to: string): void {
  for (const name of readdirSync(from)) {
    const source = join(from, name);
    const copy = join(to, name);
    const stat = lstatSync(source);
    rmSync(copy, { recursive: true, force: true });
    if (stat.isSymbolicLink()) symlinkSync(readlinkSync(source), copy);
    else if (stat.isDirectory()) {
      mkdirSync(copy);
      copyInto(source, copy);
      chmodSync(copy, stat.mode & 0o7777);
    } else if (stat.isFile()) copyFileSync(source, copy);
    // A FIFO, socket or device is nothing to copy, and reading a FIFO would hold the copy for ever.
  }
}

/**
 * Removes `path` and all below it, as `chmod -R u+rwx path; rm -rf path` did, less the one place where those followed a
 * link (chmod changed the mode of a link's target): a directory a job left without write or search permission is
 * made this user's to empty first (another user's keeps its mode, and what it holds fails to go); a link goes as the
 * link, whatever it points at. Stops at the first entry that can't be removed, by throwing fs's error.
 */
export function removeTree(path: string, stat: Stats = lstatSync(path)): void {
  if (stat.isDirectory()) {
    if ((stat.mode & 0o700) !== 0o700) {
      try {
        chmodSync(path, stat.mode | 0o700);
      } catch {
        // Not this user's: what it holds can't be removed, which the next step says.
      }
    }
    for (const name of readdirSync(path)) removeTree(join(path, name));
    rmdirSync(path);
    return;
  }
  // Windows refuses to delete a read-only file (Linux asks only for the folder's permission). A link on Windows,
  // a directory's or a junction, is no directory to lstat, and unlink removes the link.
  if (process.platform === 'win32' && (stat.mode & 0o200) === 0 && !stat.isSymbolicLink()) chmodSync(path, 0o666);
  unlinkSync(path);
}

/** The entry at `path` as it is, a link not followed; undefined when there is none. */
export function entry(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}
