// Folders, files and links of a given owner and mode, as another run of the runner image left them, and runner.js
// run over them as the image's user (tests/unit/runner/clean-slate.test.ts, agent-settings.test.ts). Giving files
// away and running as another user needs root: the tests that use these skip without it.
import { after, before } from 'node:test';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildRunner } from '../../scripts/build.mjs';

/** The image's user (images/linux/Dockerfile's AGENT_UID), and a third user, neither root nor it. */
export const agentUid = 10001;
export const otherUid = 10002;
export const asRoot = process.getuid?.() === 0;

/** A temporary folder the image's user may enter, with runner.js built into it before the file's tests; gone after. */
export function runnerFolder(prefix: string): { dir: string; bundle: string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const bundle = join(dir, 'bundle', 'runner.js');
  before(async () => {
    chmodSync(dir, 0o755);
    await buildRunner(bundle);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, bundle };
}

/** Makes a folder, and the parents it lacks, owned by `uid`; the folder itself with `mode`. */
export function folder(path: string, uid = agentUid, mode = 0o755): string {
  const first = mkdirSync(path, { recursive: true });
  for (let made = path; first !== undefined && made.length >= first.length; made = dirname(made)) chownSync(made, uid, uid);
  chmodSync(path, mode);
  return path;
}

export function file(path: string, uid = agentUid, mode = 0o644, text = 'left behind'): string {
  writeFileSync(path, text);
  chownSync(path, uid, uid);
  chmodSync(path, mode);
  return path;
}

export function link(target: string, path: string, uid = agentUid): string {
  symlinkSync(target, path);
  lchownSync(path, uid, uid);
  return path;
}

export const names = (path: string) => readdirSync(path).sort();
export const modeOf = (path: string) => lstatSync(path).mode & 0o7777;

/** `runner.js <command> <args…>` run from `bundle` as the image's user, with nothing of this environment but PATH. */
export function runAsAgent(bundle: string, command: string, args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [bundle, command, ...args], { uid: agentUid, gid: agentUid, encoding: 'utf8', env: { PATH: process.env.PATH } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}
