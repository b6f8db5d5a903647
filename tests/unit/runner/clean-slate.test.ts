// runner.js clean-slate (runner/clean-slate.ts), as the bundle start.sh runs, as the image's user over real folders
// that another run left: what this user owns goes from the agent root and the scratch folders, another user's stays;
// read-only leftovers go; a link a job planted goes and its target stays as it was; the work folder is emptied only
// when this user may write it and never at a root; $HOME goes back to skel. start.sh's own call is run by
// tests/unit/images/start-stop.test.ts. The Windows rule (.pristine) runs in-process on the same kind of folders.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanSlate, workFolder } from '../../../runner/clean-slate.js';
import { StepError } from '../../../runner/settings.js';
import { agentUid, asRoot, file, folder, link, modeOf, names, otherUid, runAsAgent, runnerFolder } from '../../support/owned-files.js';

const { dir, bundle } = runnerFolder('clean-slate-');

/** A folder a job left read-only, with a file and a folder no one may enter inside it. */
function readOnlyTree(path: string): void {
  folder(path, agentUid, 0o755);
  file(join(path, 'file'), agentUid, 0o400);
  folder(join(path, 'locked'), agentUid, 0o755);
  file(join(path, 'locked', 'deep'), agentUid, 0o400);
  chmodSync(join(path, 'locked'), 0o000);
  chmodSync(path, 0o500);
}
/** A place outside every folder emptied, this user's, that a job's links point at: it must stay exactly so. */
function outside(name: string): { dir: string; file: string } {
  const target = folder(join(dir, name), agentUid, 0o500);
  chmodSync(target, 0o755);
  const inside = file(join(target, 'key'), agentUid, 0o600, 'outside');
  chmodSync(target, 0o500);
  return { dir: target, file: inside };
}
const untouched = (target: { dir: string; file: string }) => {
  assert.equal(modeOf(target.dir), 0o500, `${target.dir} keeps its mode`);
  assert.equal(modeOf(target.file), 0o600, `${target.file} keeps its mode`);
  assert.equal(readFileSync(target.file, 'utf8'), 'outside');
};
/** runner.js clean-slate as the image's user. */
const run = (args: string[]) => runAsAgent(bundle, 'clean-slate', args);

describe('runner.js clean-slate', { skip: !asRoot && 'it removes its own user\'s files and keeps others\': the test runs it as uid 10001 over files of several owners, which needs root' }, () => {
  it('removes what this user left in the agent root, the scratch folders, the work folder and $HOME; another user\'s files stay', () => {
    const root = folder(join(dir, 'whole'), 0, 0o755);
    // The agent root as the image has it: the package root's, the folder sticky and open to all.
    const agent = folder(join(root, 'agent'), 0, 0o1777);
    file(join(agent, 'config.sh'), 0, 0o755);
    folder(join(agent, 'bin'), 0, 0o755);
    file(join(agent, 'bin', 'Agent.Listener'), 0, 0o755);
    file(join(agent, 'a-neighbour'), otherUid);
    file(join(agent, '.agent'), agentUid);
    file(join(agent, '.credentials_rsaparams'), agentUid, 0o600);
    folder(join(agent, '_diag'));
    file(join(agent, '_diag', 'Agent_1.log'));
    readOnlyTree(join(agent, 'read-only'));
    const scratch = folder(join(root, 'tmp'), 0, 0o1777);
    folder(join(scratch, '.X11-unix'), 0, 0o1777);
    file(join(scratch, 'neighbour.sock'), otherUid);
    file(join(scratch, 'job-temp'));
    readOnlyTree(join(scratch, 'read-only'));
    // The kubelet's work volume: root's, group-writable for the pod's group; whoever owns what is in it, it all goes.
    const work = folder(join(root, 'work'), 0, 0o2775);
    chownSync(work, 0, agentUid);
    file(join(work, 'root-made'), 0);
    folder(join(work, '1', 's'));
    file(join(work, '1', 's', 'source.c'));
    readOnlyTree(join(work, '1', 'read-only'));
    const home = folder(join(root, 'home'), agentUid, 0o750);
    file(join(home, '.bash_history'), agentUid, 0o600);
    readOnlyTree(join(home, '.cache'));
    const missing = join(root, 'no-such-scratch');

    const result = run(['--agent-dir', agent, '--work', work, '--home', home, scratch, missing]);
    assert.deepEqual(result, { code: 0, stdout: '', stderr: '' });
    assert.deepEqual(names(agent), ['a-neighbour', 'bin', 'config.sh'], 'the package and another user\'s file stay');
    assert.deepEqual(names(join(agent, 'bin')), ['Agent.Listener']);
    assert.equal(modeOf(agent), 0o1777, 'the agent root keeps its mode');
    assert.deepEqual(names(scratch), ['.X11-unix', 'neighbour.sock']);
    assert.deepEqual(names(work), [], 'the work folder emptied, root\'s file too');
    assert.equal(modeOf(work), 0o2775, 'the work folder itself stays as it was');
    assert.deepEqual(names(home), [], 'no --skel: $HOME stays empty');
  });

  it('removes a link a job planted, never what it points at: not its mode, not its contents', () => {
    const root = folder(join(dir, 'links'), 0, 0o755);
    const key = outside('config-volume');
    const agent = folder(join(root, 'agent'), 0, 0o1777);
    link(key.dir, join(agent, '_work'));
    link(key.file, join(agent, '.credentials'));
    const scratch = folder(join(root, 'tmp'), 0, 0o1777);
    link(key.dir, join(scratch, 'to-config'));
    link(key.file, join(scratch, 'to-key'));
    // A link inside a folder that goes whole, and one in a read-only folder.
    folder(join(scratch, 'job', 'deep'));
    link(key.dir, join(scratch, 'job', 'deep', 'to-config'));
    const work = folder(join(root, 'work'));
    folder(join(work, '1'));
    link(key.dir, join(work, '1', 's'));
    link(key.file, join(work, 'key'));
    chmodSync(join(work, '1'), 0o500);
    const home = folder(join(root, 'home'));
    link(key.dir, join(home, '.ssh'));

    const result = run(['--agent-dir', agent, '--work', work, '--home', home, scratch]);
    assert.deepEqual(result, { code: 0, stdout: '', stderr: '' });
    for (const emptied of [agent, scratch, work, home]) assert.deepEqual(names(emptied), [], `${emptied} emptied of the links`);
    untouched(key);
  });

  it('empties a work folder only when this user may write it, never a link to one, and never a file system\'s root', () => {
    const root = folder(join(dir, 'work-rules'), 0, 0o755);
    const agent = folder(join(root, 'agent'), 0, 0o1777);
    const readOnly = folder(join(root, 'read-only-work'), 0, 0o755);
    file(join(readOnly, 'mine'));
    assert.deepEqual(run(['--agent-dir', agent, '--work', readOnly]), { code: 0, stdout: '', stderr: '' });
    assert.deepEqual(names(readOnly), ['mine'], 'a folder this user may not write is left as it is');
    // The work folder set to a link (an absolute AZP_WORK that is one): the folder behind it stays full.
    const behind = folder(join(root, 'behind'));
    file(join(behind, 'kept'));
    const linked = link(behind, join(root, 'linked-work'), 0);
    assert.deepEqual(run(['--agent-dir', agent, '--work', linked]), { code: 0, stdout: '', stderr: '' });
    assert.deepEqual(names(behind), ['kept']);
    // Relative to the agent root, as AZP_WORK's default.
    folder(join(agent, '_work'), 0, 0o777);
    file(join(agent, '_work', 'job-file'), otherUid);
    assert.deepEqual(run(['--agent-dir', agent, '--work', '_work']), { code: 0, stdout: '', stderr: '' });
    assert.deepEqual(names(join(agent, '_work')), []);
    // A root is refused before any question of permission: as this test's root, / would be writable.
    const writable = () => true;
    for (const work of ['/', '//', '/.', '/tmp/..']) assert.equal(workFolder(agent, work, writable), undefined, `AZP_WORK=${work}`);
    assert.equal(workFolder(agent, '_work', writable), join(agent, '_work'));
    assert.equal(workFolder(agent, '_work', () => false), undefined);
  });

  it('removes whatever a job can make, as rm did: a tree deeper than the path limit, names that are no UTF-8', () => {
    const root = folder(join(dir, 'odd-trees'), 0, 0o755);
    const agent = folder(join(root, 'agent'), 0, 0o1777);
    const work = folder(join(root, 'work'), agentUid, 0o755);
    // As a job would, from inside (a path from / would pass the limit): 2 500 folders deep, about 7 500 bytes, read-only
    // at the bottom.
    const deep = `process.chdir(${JSON.stringify(work)}); const fs = require('node:fs'); fs.mkdirSync('deep'); process.chdir('deep');
      for (let i = 0; i < 2500; i++) { fs.mkdirSync('aa'); process.chdir('aa'); } fs.writeFileSync('bottom', ''); fs.mkdirSync('locked'); fs.chmodSync('locked', 0o500); fs.chmodSync('.', 0o555);`;
    const made = spawnSync(process.execPath, ['-e', deep], { uid: agentUid, gid: agentUid, encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const bytes = (...parts: Array<string | number[]>) => Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part) : Buffer.from(part))));
    writeFileSync(bytes(work, '/', [0xff, 0x41]), 'top');
    mkdirSync(bytes(work, '/', [0xfd]));
    writeFileSync(bytes(work, '/', [0xfd], '/', [0xfe]), 'nested');
    writeFileSync(bytes(agent, '/', [0xfc]), 'a leftover of this user');
    for (const path of [bytes(work, '/', [0xff, 0x41]), bytes(work, '/', [0xfd]), bytes(work, '/', [0xfd], '/', [0xfe]), bytes(agent, '/', [0xfc])]) chownSync(path, agentUid, agentUid);
    assert.deepEqual(run(['--agent-dir', agent, '--work', work]), { code: 0, stdout: '', stderr: '' });
    assert.deepEqual(readdirSync(work), [], 'the work folder is empty');
    assert.deepEqual(readdirSync(agent), [], 'so is the agent root');
  });

  it('empties $HOME only when this user owns it, then copies skel back: modes kept, links as links', () => {
    const root = folder(join(dir, 'home-rules'), 0, 0o755);
    const agent = folder(join(root, 'agent'), 0, 0o1777);
    // Root's, as /etc/skel is; what is not for all to read is this user's here, so that it can be read at all.
    const skel = folder(join(root, 'skel'), 0, 0o755);
    file(join(skel, '.bashrc'), 0, 0o644, 'bashrc');
    file(join(skel, '.private'), agentUid, 0o600, 'private');
    folder(join(skel, '.config'), agentUid, 0o750);
    file(join(skel, '.config', 'tool.conf'), agentUid, 0o640, 'conf');
    link('.bashrc', join(skel, '.bash_profile'), 0);
    const home = folder(join(root, 'home'), agentUid, 0o700);
    file(join(home, '.bashrc'), agentUid, 0o644, 'changed by a job');
    readOnlyTree(join(home, '.cache'));
    const theirs = folder(join(root, 'their-home'), otherUid, 0o777);
    file(join(theirs, 'kept'), otherUid);

    assert.deepEqual(run(['--agent-dir', agent, '--work', '_work', '--home', home, '--skel', skel]), { code: 0, stdout: '', stderr: '' });
    assert.deepEqual(names(home), ['.bash_profile', '.bashrc', '.config', '.private']);
    assert.equal(readFileSync(join(home, '.bashrc'), 'utf8'), 'bashrc');
    assert.equal(modeOf(join(home, '.private')), 0o600);
    assert.equal(modeOf(join(home, '.config')), 0o750);
    assert.equal(modeOf(join(home, '.config', 'tool.conf')), 0o640);
    assert.equal(readlinkSync(join(home, '.bash_profile')), '.bashrc', 'a link stays a link');
    assert.equal(modeOf(home), 0o755, 'as cp -a skel/. home/: $HOME takes skel\'s mode');
    assert.equal(lstatSync(join(home, '.private')).uid, agentUid, 'the copies are this user\'s');

    assert.deepEqual(run(['--agent-dir', agent, '--work', '_work', '--home', theirs, '--skel', skel]), { code: 0, stdout: '', stderr: '' });
    assert.deepEqual(names(theirs), ['kept'], 'a $HOME of another user is left as it is, skel not copied in');
  });

  it('stops with exit code 78 and one line naming the folder when something there can\'t be removed; 64 without its folders', () => {
    const root = folder(join(dir, 'stuck'), 0, 0o755);
    const agent = folder(join(root, 'agent'), 0, 0o1777);
    const scratch = folder(join(root, 'tmp'), 0, 0o1777);
    // This user's folder, with a folder of root's inside that holds a file: nothing this user may remove.
    folder(join(scratch, 'job'));
    folder(join(scratch, 'job', '##vso[task.setvariable variable=x]y'), 0, 0o755);
    file(join(scratch, 'job', '##vso[task.setvariable variable=x]y', 'root-made'), 0);
    const result = run(['--agent-dir', agent, '--work', '_work', scratch]);
    assert.equal(result.code, 78);
    assert.match(result.stderr, new RegExp(`^runner clean-slate: error: could not clean ${scratch}: rm: cannot remove '.*root-made': Permission denied\n$`));
    assert.doesNotMatch(result.stderr, /##vso\[/, 'a name a job chose is no logging command');

    const usage = run(['--agent-dir', agent]);
    assert.equal(usage.code, 64);
    assert.match(usage.stderr, /^runner clean-slate: error: clean-slate needs the agent root and AZP_WORK: runner\.js clean-slate --agent-dir <dir> --work <AZP_WORK>/);
  });
});

describe('clean-slate\'s Windows rule', () => {
  it('keeps the agent root\'s entries .pristine lists, whatever their case, and empties the work and temp folders whole', () => {
    const root = mkdtempSync(join(dir, 'windows-'));
    const agent = join(root, 'agent');
    mkdirSync(join(agent, 'bin'), { recursive: true });
    writeFileSync(join(agent, 'config.cmd'), '');
    writeFileSync(join(agent, 'RUN.CMD'), '');
    // As the image's build writes it: Set-Content's CRLF lines, the list naming itself.
    writeFileSync(join(agent, '.pristine'), 'bin\r\nconfig.cmd\r\nrun.cmd\r\n.pristine\r\n');
    writeFileSync(join(agent, '.agent'), '');
    mkdirSync(join(agent, '_diag'));
    writeFileSync(join(agent, '_diag', 'Agent.log'), '');
    const key = join(root, 'key');
    writeFileSync(key, 'outside');
    symlinkSync(key, join(agent, '.credentials'));
    const work = join(agent, '_work');
    const temp = join(root, 'Temp');
    mkdirSync(join(temp, 'job'), { recursive: true });
    writeFileSync(join(temp, 'job', 'file'), '');

    cleanSlate({ platform: 'windows', uid: -1, agentDir: agent, work: '_work', scratchDirs: [temp] });
    assert.deepEqual(names(agent), ['.pristine', 'RUN.CMD', 'bin', 'config.cmd']);
    assert.ok(!existsSync(work));
    assert.deepEqual(names(temp), []);
    assert.equal(readFileSync(key, 'utf8'), 'outside', 'the link went, not its target');
  });

  it('without .pristine it removes nothing and says why', () => {
    const agent = mkdtempSync(join(dir, 'windows-bare-'));
    writeFileSync(join(agent, 'config.cmd'), '');
    assert.throws(() => cleanSlate({ platform: 'windows', uid: -1, agentDir: agent, work: '_work', scratchDirs: [] }), (caught) => {
      assert.ok(caught instanceof StepError);
      assert.equal(caught.message, `${join(agent, '.pristine')} can't be read (ENOENT): the image's build lists the agent package's own entries there`);
      return true;
    });
    assert.deepEqual(names(agent), ['config.cmd']);
  });
});
