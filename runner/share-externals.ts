// The init container of the modes that run container jobs (docs/container-jobs.md): the agent's externals into the
// pod's volume that podContainers' agent and job containers mount read-only (at /__a/externals there), and dind's
// engine at the agent's own path, whence the agent binds them into a job's containers; with runner.js and a link to
// the Node it runs on (the newest the agent ships, start.sh's choice) in azp-runner/, which podContainers' exec
// helpers run on.
import { constants, copyFileSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { copyInto } from './files.js';
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
  // uid. Links stay links, as the agent package made them; what an earlier run of the init container left (it restarts
  // in place, perhaps cut off mid-copy) is replaced.
  copyInto(externals, target);
  rmSync(join(target, 'azp-runner'), { recursive: true, force: true });
  mkdirSync(join(target, 'azp-runner'));
  copyFileSync(runnerJs, join(target, 'azp-runner', 'runner.js'));
  // Relative: it resolves wherever the volume is mounted.
  symlinkSync(join('..', nodeInside), join(target, 'azp-runner', 'node'));
}
