// What the runner's commands do to files, by hand rather than with fs.cpSync or fs.rmSync: the bundle runs on the
// agent's Node from 16 on, whose cpSync was experimental and kept no link verbatim, and each must hold to one rule
// whatever a job left behind: a link is copied or removed as the link itself, never followed.
import { chmodSync, copyFileSync, lstatSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmdirSync, rmSync, symlinkSync, unlinkSync, type Stats } from 'node:fs';
import { dirname, join, sep } from 'node:path';

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

/** Past this many bytes a path nears the system's limit (4096 on Linux): a folder that deep is moved up before it is emptied. */
const deepPathBytes = 3000;

/**
 * Removes `path` and all below it, as `chmod -R u+rwx path; rm -rf path` did, less the one place where those followed a
 * link (chmod changed the mode of a link's target): a directory a job left without write or search permission is
 * made this user's to empty first (another user's keeps its mode, and what it holds fails to go); a link goes as the
 * link, whatever it points at. Stops at the first entry that can't be removed, by throwing fs's error.
 * As rm, whatever a job made: names are bytes (a name need not be UTF-8), the walk is a loop (a tree may be deeper than
 * the stack), and a folder whose path nears the system's limit is first moved beside `path`, so that no path grows
 * past it.
 */
export function removeTree(path: string | Buffer, stat: Stats = lstatSync(path)): void {
  const top = Buffer.from(path);
  const beside = Buffer.concat([Buffer.from(dirname(top.toString('latin1')), 'latin1'), separator, Buffer.from(`.removing-${process.pid}-`)]);
  let moved = 0;
  const pending: Array<{ path: Buffer; stat: Stats; names?: Buffer[] }> = [{ path: top, stat }];
  while (pending.length > 0) {
    const current = pending[pending.length - 1];
    if (!current.stat.isDirectory()) {
      removeFile(current.path, current.stat);
      pending.pop();
      continue;
    }
    if (current.names === undefined) {
      if ((current.stat.mode & 0o700) !== 0o700) {
        try {
          chmodSync(current.path, current.stat.mode | 0o700);
        } catch {
          // Not this user's: what it holds can't be removed, which the next step says.
        }
      }
      current.names = readdirSync(current.path, { encoding: 'buffer' });
    }
    const name = current.names.pop();
    if (name === undefined) {
      rmdirSync(current.path);
      pending.pop();
      continue;
    }
    let child = Buffer.concat([current.path, separator, name]);
    const childStat = lstatSync(child);
    if (childStat.isDirectory() && child.length > deepPathBytes) {
      const up = Buffer.concat([beside, Buffer.from(String(moved++))]);
      renameSync(child, up);
      child = up;
    }
    pending.push({ path: child, stat: childStat });
  }
}

const separator = Buffer.from(sep);

function removeFile(path: Buffer, stat: Stats): void {
  // Windows refuses to delete a read-only file (Linux asks only for the folder's permission). A link on Windows,
  // a directory's or a junction, is no directory to lstat, and unlink removes the link.
  if (process.platform === 'win32' && (stat.mode & 0o200) === 0 && !stat.isSymbolicLink()) chmodSync(path, 0o666);
  unlinkSync(path);
}

/** The entry at `path` as it is, a link not followed; undefined when there is none. */
export function entry(path: string | Buffer): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}
