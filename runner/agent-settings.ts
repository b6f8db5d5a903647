// `save-registration` and `restore-registration`: how the register mode hands its registration to the run mode
// (docker/README.md, "Modes"). The agent's settings files, which config.sh writes into the agent root (.agent,
// .credentials, .credentials_rsaparams, the agent's private key, …), are copied into AZP_CONFIG_DIR, the volume the
// two containers share, and back. Which files are the agent's is the clean slate's rule (leftoverRule): on Linux the
// regular files this user owns, on Windows those the package did not bring. Regular files only: a link is neither
// copied nor written through. Nothing here reads a file's contents or prints them; every copy keeps its file's mode
// (cp -p), so the key stays 0600: fs.copyFileSync creates the copy with its source's mode, never wider, and it is then
// set to that mode exactly.
import { chmodSync, constants, copyFileSync, readdirSync, utimesSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { logLine } from '../src/core/index.js';
import { emptyDir, leftoverRule, reason, type Leftover, type Platform } from './clean-slate.js';
import { entry, removeTree } from './files.js';
import { SettingError, StepError } from './settings.js';

export interface AgentSettings {
  platform: Platform;
  /** This user, whose files in the agent root are the agent's settings (Linux). */
  uid: number;
  agentDir: string;
  /** AZP_CONFIG_DIR. */
  configDir: string;
}

/** Register mode: AZP_CONFIG_DIR emptied, then the agent's settings files copied into it. */
export function saveRegistration({ platform, uid, agentDir, configDir }: AgentSettings): void {
  emptyDir(configDir, {});
  const leftover = leftoverRule(platform, agentDir, uid);
  copyFiles(agentDir, configDir, leftover, `could not save the agent's settings in AZP_CONFIG_DIR='${logLine(configDir)}'`);
}

/** Run mode: the files of AZP_CONFIG_DIR into the agent root; a SettingError when it holds no registration. */
export function restoreRegistration({ agentDir, configDir }: AgentSettings): void {
  if (!entry(join(configDir, '.agent'))?.isFile()) throw new SettingError(`AZP_CONFIG_DIR='${logLine(configDir)}' holds no registration: run the register mode first`);
  copyFiles(configDir, agentDir, () => true, `could not restore the agent's settings from AZP_CONFIG_DIR='${logLine(configDir)}'`);
}

/** Copies the regular files of `from` that `pick` picks into `to`, replacing what `to` held under their names. */
function copyFiles(from: string, to: string, pick: Leftover, failed: string): void {
  try {
    for (const name of readdirSync(from)) {
      const stat = entry(join(from, name));
      if (stat?.isFile() && pick(name, stat)) copyFile(join(from, name), join(to, name), stat);
    }
  } catch (caught) {
    throw new StepError(`${failed}: ${reason(caught)}`);
  }
}

/** As cp -p: mode and times kept; whatever stood at `to` (a link a job planted) replaced, never written through. */
function copyFile(from: string, to: string, stat: Stats): void {
  const there = entry(to);
  if (there !== undefined) removeTree(to, there);
  copyFileSync(from, to, constants.COPYFILE_EXCL);
  chmodSync(to, stat.mode & 0o7777);
  utimesSync(to, stat.atime, stat.mtime);
}
