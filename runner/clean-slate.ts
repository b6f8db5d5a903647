// `clean-slate`: what every mode that registers or runs an agent does first (docker/start.sh, docker/start.ps1):
// removes what an earlier run left in this container's filesystem. Kubernetes gives each job a fresh pod, but Docker's
// `restart: always` and older clusters restart a container in place (docker/README.md, "Clean slate"), and the next
// run, which may hold the credential, must not meet the agent's old settings and logs, a job's work folder, its
// temporary files or what it put in $HOME. A job runs as this same user and may have left anything there: read-only
// folders, and links to elsewhere (to the config volume, the agent's key, the package): a link is removed, never
// followed (runner/files.ts). It holds no credential; the entrypoint runs it as a child of its own, so that a stop
// signal ends it at once however large the work folder.
import { spawnSync } from 'node:child_process';
import { chmodSync, constants, readdirSync, readFileSync, statSync, type Stats } from 'node:fs';
import { isAbsolute, join, parse, resolve } from 'node:path';
import { logLine } from '../src/core/index.js';
import { copyInto, entry, removeTree } from './files.js';
import { accessible, StepError } from './settings.js';

export type Platform = 'linux' | 'windows';

/** Which entries of the agent root an earlier run left, as against those the agent package brought. */
export type Leftover = (name: string, stat: Stats) => boolean;

/**
 * The rule that tells them apart, which differs by platform because the images protect the package differently.
 * Linux: the image's build gives the package to root and makes the agent root sticky (1777, like /tmp;
 * images/linux/install.sh), so an entry this user owns was written after the build, by the agent or a job, and only
 * those are its to remove. Windows: the owner tells nothing: Node reports uid 0 for every file, and the image grants
 * ContainerUser Modify on the whole agent folder (ACLs, no sticky bit), so the package's files are the user's as
 * much as the leftovers; its build lists the package's entries in `.pristine` (images/windows/Dockerfile), and
 * everything else is a leftover. Names compare as Windows (and start.ps1's -notin) compares them, whatever their case.
 */
export function leftoverRule(platform: Platform, agentDir: string, uid: number): Leftover {
  if (platform === 'linux') return ownedBy(uid);
  const list = join(agentDir, '.pristine');
  let text: string;
  try {
    text = readFileSync(list, 'utf8');
  } catch (caught) {
    throw new StepError(`${shown(list)} can't be read (${(caught as NodeJS.ErrnoException).code ?? 'unknown error'}): the image's build lists the agent package's own entries there`);
  }
  const pristine = new Set(text.replace(/^\uFEFF/, '').split(/\r?\n/).filter((name) => name !== '').map((name) => name.toLowerCase()));
  return (name) => !pristine.has(name.toLowerCase());
}

const ownedBy = (uid: number): Leftover => (_name, stat) => stat.uid === uid;

export interface CleanSlate {
  platform: Platform;
  /** This user: on Linux, what it owns in the agent root and the scratch folders is removed, and nothing else. */
  uid: number;
  agentDir: string;
  /** AZP_WORK: relative to the agent root, or absolute. */
  work: string;
  /** Linux: /tmp, /var/tmp, … emptied of this user's entries; Windows: %TEMP%, emptied whole as far as it can be. */
  scratchDirs: readonly string[];
  /** $HOME (Linux): emptied if this user owns it, then filled from `skel` (/etc/skel) as `cp -a skel/. home/` did. */
  home?: string;
  skel?: string;
}

/** Removes what an earlier run left, in start.sh's order; what can't be removed is a StepError naming it. */
export function cleanSlate(slate: CleanSlate): void {
  const { platform, uid, agentDir } = slate;
  const work = workFolder(agentDir, slate.work, (path) => accessible(path, constants.W_OK, 'directory'));
  if (platform === 'linux') {
    for (const dir of [agentDir, ...slate.scratchDirs]) emptyWithFind(dir, uid);
    if (work !== undefined) emptyWithFind(work);
    if (slate.home !== undefined) restoreHome(slate.home, uid, slate.skel);
    return;
  }
  emptyDir(agentDir, { remove: leftoverRule(platform, agentDir, uid) });
  // On Windows the temporary and work folders are this user's alone, and a file some process still holds open can't be
  // deleted there: what is in use stays, as start.ps1 let it.
  for (const dir of slate.scratchDirs) emptyDir(dir, { bestEffort: true });
  if (work !== undefined) emptyDir(work, { bestEffort: true });
}

/**
 * The work folder to empty, or undefined: whoever owns it (the kubelet makes a volume's root root-owned and
 * group-writable), but only one this user may write and no file system's root, so that a work folder set to / or
 * /etc is never emptied. A link there is no work folder of its own (the agent root's leftovers took a job's link away).
 */
export function workFolder(agentDir: string, work: string, writable: (path: string) => boolean): string | undefined {
  const dir = resolve(isAbsolute(work) ? work : join(agentDir, work));
  if (dir === parse(dir).root || !entry(dir)?.isDirectory() || !writable(dir)) return undefined;
  return dir;
}

/** $HOME emptied whole if this user owns it, then /etc/skel copied back into it (modes kept, links as links). */
function restoreHome(home: string, uid: number, skel: string | undefined): void {
  const stat = entry(home);
  if (!stat?.isDirectory() || stat.uid !== uid) return;
  emptyWithFind(home);
  const skeleton = skel === undefined ? undefined : statOf(skel);
  if (skel === undefined || !skeleton?.isDirectory()) return;
  try {
    copyInto(skel, home);
    // As cp -a skel/. home/: the folder itself takes skel's mode too.
    chmodSync(home, skeleton.mode & 0o7777);
  } catch (caught) {
    throw new StepError(`could not copy ${shown(skel)} into ${shown(home)}: ${reason(caught)}`);
  }
}

interface Emptying {
  /** Which entries go (default: all). */
  remove?: Leftover;
  /** What can't be removed stays, without a word. */
  bestEffort?: boolean;
}

/**
 * Linux: empties `dir` of its entries (of `owner`'s only, when given) with find and rm, as start.sh did: they walk by
 * file descriptor and by bytes, so no tree a job leaves stops or misleads them — one deeper than the path limit, names
 * that are no UTF-8, a folder swapped for a link while they run (another container of the pod may share the work
 * volume) — which Node's path-based calls cannot promise. Made writable first: chmod -R follows no link below the
 * entries, and a link among them is not given to it. A `dir` that is missing, or a link, is left alone.
 */
function emptyWithFind(dir: string, owner?: number): void {
  if (!entry(dir)?.isDirectory()) return;
  const entries = [dir, '-mindepth', '1', '-maxdepth', '1', ...(owner === undefined ? [] : ['-user', String(owner)])];
  spawnSync('find', [...entries, '!', '-type', 'l', '-exec', 'chmod', '-R', 'u+rwx', '{}', '+'], { stdio: 'ignore' });
  const removal = spawnSync('find', [...entries, '-exec', 'rm', '-rf', '{}', '+'], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (removal.error !== undefined || removal.status !== 0) {
    const why = removal.error ?? (removal.stderr.trim().split('\n')[0] || `find exited ${removal.status}`);
    throw new StepError(`could not clean ${shown(dir)}: ${reason(why)}`);
  }
}

/**
 * Windows: empties `dir` of the entries `remove` picks, each removed whole (runner/files.ts). A `dir` that is missing,
 * or a link, is left alone.
 */
export function emptyDir(dir: string, { remove = () => true, bestEffort = false }: Emptying): void {
  if (!entry(dir)?.isDirectory()) return;
  let failure: unknown;
  try {
    for (const name of readdirSync(dir)) {
      try {
        const stat = entry(join(dir, name));
        if (stat !== undefined && remove(name, stat)) removeTree(join(dir, name), stat);
      } catch (caught) {
        failure ??= caught;
      }
    }
  } catch (caught) {
    failure ??= caught;
  }
  if (failure !== undefined && !bestEffort) throw new StepError(`could not clean ${shown(dir)}: ${reason(failure)}`);
}

function statOf(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** A path in a message: on one line, never a logging command (a job chose the names below the folders). */
const shown = (path: string) => logLine(path);
/** fs's own message (`EACCES: permission denied, rmdir '<path>'`), which names the entry, on one line. */
export const reason = (caught: unknown) => logLine(caught instanceof Error ? caught.message : String(caught));
