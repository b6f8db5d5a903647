// The init container of the modes that run container jobs (docs/container-jobs.md): the agent's externals into the
// pod's volume that podContainers' agent and job containers mount read-only (at /__a/externals there), and dind's
// engine at the agent's own path, whence the agent binds them into a job's containers; with runner.js and a link to
// the Node it runs on (the newest the agent ships, start.sh's choice) in azp-runner/, which podContainers' exec
// helpers run on.
import { chmodSync, constants, copyFileSync, lstatSync, mkdirSync, readdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { accessible, SettingError } from './settings.js';

export interface ShareExternals {
  /** The agent's externals folder. */
  externals: string;
  /** The Node to link, inside `externals`. */
  node: string;
  /** This bundle. */
  runnerJs: string;
  /** The pod's volume. */
  target: string;
}

export function shareExternals({ externals, node, runnerJs, target }: ShareExternals): void {
  if (!target || !accessible(target, constants.W_OK, 'directory')) throw new SettingError(`share-externals needs a writable directory (the pod's volume); got '${target}'`);
  const nodeInside = relative(externals, node);
  if (nodeInside.startsWith('..') || nodeInside.startsWith(sep)) throw new SettingError(`share-externals links a Node inside ${externals}; got '${node}'`);
  // Into the volume's root, which keeps its own owner and mode: the job containers' processes read it as the agent's
  // uid. Links stay links, as the agent package made them.
  copyInto(externals, target);
  rmSync(join(target, 'azp-runner'), { recursive: true, force: true });
  mkdirSync(join(target, 'azp-runner'));
  copyFileSync(runnerJs, join(target, 'azp-runner', 'runner.js'));
  // Relative: it resolves wherever the volume is mounted.
  symlinkSync(join('..', nodeInside), join(target, 'azp-runner', 'node'));
}

/**
 * Copies what `from` holds into the existing directory `to`, as `cp -R from/. to/` does: links as links (the agent's
 * are relative), files and folders with their modes. By hand: the bundle runs on the agent's Node from 16 on, whose
 * fs.cpSync was experimental and kept no link verbatim. Only links, folders and regular files.
 */
function copyInto(from: string, to: string): void {
  for (const name of readdirSync(from)) {
    const source = join(from, name);
    const copy = join(to, name);
    const stat = lstatSync(source);
    // What an earlier run of the init container left (it restarts in place, perhaps cut off mid-copy) is replaced.
    rmSync(copy, { recursive: true, force: true });
    if (stat.isSymbolicLink()) symlinkSync(readlinkSync(source), copy);
    else if (stat.isDirectory()) {
      mkdirSync(copy);
      copyInto(source, copy);
      chmodSync(copy, stat.mode & 0o7777);
    } else if (stat.isFile()) copyFileSync(source, copy);
    // A FIFO, socket or device is nothing to share, and reading a FIFO would hold the pod's start for ever.
  }
}
