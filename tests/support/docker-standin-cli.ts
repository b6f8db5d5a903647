// A recording stand-in for the `docker` CLI, for the agent double's container jobs without an engine. Each call's argv
// (and stdin, for `login` and `exec -i`) is appended to calls.jsonl in DOCKER_STANDIN_DIR; `version`, `ps`, `port`,
// `inspect`, `create` answer in the real CLI's formats; `exec` runs the command here, with the container's mount
// targets mapped back to their sources (so steps really run), except the user-setup commands that would change this
// machine (groupadd, useradd, …), which only succeed. DOCKER_STANDIN_API sets the engine's API version (default 1.43).
// Built with esbuild into a script the tests put on the double's PATH as `docker` (docker-standin.ts).
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface Container { id: string; name: string; image: string; networkAlias?: string; ports: string[]; mounts: { source: string; target: string }[]; running: boolean; labels: string[] }

const VALUE_FLAGS = new Set(['--name', '--label', '--network', '--network-alias', '-p', '-e', '-v', '--cpus', '--memory', '-u', '-w', '--format', '-f', '--filter']);
const CHANGES_MACHINE = new Set(['groupadd', 'useradd', 'usermod', 'su', 'addgroup', 'adduser', 'apk']);

function main(argv: string[]): number {
  const dir = process.env.DOCKER_STANDIN_DIR ?? '.';
  const stateFile = join(dir, 'state.json');
  const state = (existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, 'utf8')) : { containers: [] }) as { containers: Container[] };
  const save = () => writeFileSync(stateFile, JSON.stringify(state));
  const [command, ...rest] = argv;
  const readsStdin = command === 'login' || (command === 'exec' && rest.includes('-i'));
  const stdin = readsStdin ? readFileSync(0, 'utf8') : undefined;
  appendFileSync(join(dir, 'calls.jsonl'), `${JSON.stringify({ argv, stdin })}\n`);
  const find = (id: string) => state.containers.find((c) => c.id === id);
  const out = (text: string) => process.stdout.write(`${text}\n`);
  const api = process.env.DOCKER_STANDIN_API ?? '1.43';
  const option = (name: string) => { const i = rest.indexOf(name); return i >= 0 ? rest[i + 1] : undefined; };

  switch (command) {
    case 'version':
      // The agent's format string carries literal single quotes, which the real CLI prints back.
      out(rest[1].replace(/\{\{\.(Server|Client)\.APIVersion\}\}/, api));
      return 0;
    case 'info': out('bridge\nhost\nnull'); return 0;
    case 'pull': out(`${rest[0]}: Pulling from library\nStatus: Image is up to date for ${rest[0]}`); return 0;
    case 'login': out('Login Succeeded'); return 0;
    case 'logout': out(`Removing login credentials for ${rest[0]}`); return 0;
    case 'network':
      if (rest[0] === 'create') out('f'.repeat(64));
      if (rest[0] === 'rm') out(rest[1]);
      return 0;
    case 'inspect': out(''); return 0;
    case 'create': {
      const container: Container = { id: (state.containers.length + 1).toString(16).padStart(64, '0'), name: '', image: '', ports: [], mounts: [], running: false, labels: [] };
      let i = 0;
      for (; i < rest.length && rest[i].startsWith('-'); i += 2) {
        const value = rest[i + 1];
        if (rest[i] === '--name') container.name = value;
        if (rest[i] === '--label') container.labels.push(value);
        if (rest[i] === '--network-alias') container.networkAlias = value;
        if (rest[i] === '-p') container.ports.push(value);
        if (rest[i] === '-v') {
          const [source, target] = value.split(':');
          container.mounts.push({ source, target });
        }
        if (!VALUE_FLAGS.has(rest[i])) i--;
      }
      container.image = rest[i];
      state.containers.push(container);
      save();
      out(container.id);
      return 0;
    }
    case 'start': {
      const container = find(rest[0]);
      if (!container) return 1;
      container.running = true;
      save();
      out(rest[0]);
      return 0;
    }
    case 'ps': {
      const filters = rest.flatMap((arg, i) => (rest[i - 1] === '--filter' ? [arg] : []));
      const label = filters.find((f) => f.startsWith('label='))?.slice(6);
      const id = filters.find((f) => f.startsWith('id='))?.slice(3);
      const matches = state.containers.filter((c) => (!label || c.labels.includes(label)) && (!id || c.id === id) && (!filters.includes('status=running') || c.running));
      for (const c of matches) out(rest.includes('--quiet') ? c.id : option('--format')?.replace('{{.ID}}', c.id).replace('{{.Status}}', 'Up 1 second') ?? c.id);
      return 0;
    }
    case 'port': {
      find(rest[0])?.ports.forEach((port, index) => {
        const [host, target] = port.includes(':') ? port.split(':') : [String(32768 + index), port];
        out(`${target}/tcp -> 0.0.0.0:${host}`);
      });
      return 0;
    }
    case 'rm': {
      state.containers = state.containers.filter((c) => c.id !== rest[rest.length - 1]);
      save();
      out(rest[rest.length - 1]);
      return 0;
    }
    case 'exec': {
      let i = 0;
      for (; rest[i].startsWith('-'); i += rest[i] === '-i' ? 1 : 2);
      const container = find(rest[i]);
      if (!container?.running) { process.stderr.write(`Error response from daemon: container ${rest[i]} is not running\n`); return 1; }
      const args = rest.slice(i + 1);
      if (CHANGES_MACHINE.has(args[0])) return 0;
      const mounts = [...container.mounts].sort((a, b) => b.target.length - a.target.length);
      const toHost = (text: string) => mounts.reduce((value, m) => value.split(m.target).join(m.source), text);
      const workDir = option('-w');
      const result = spawnSync(toHost(args[0]), args.slice(1).map(toHost), {
        input: stdin === undefined ? '' : toHost(stdin), stdio: ['pipe', 'inherit', 'inherit'],
        cwd: workDir && existsSync(workDir) ? workDir : undefined, env: { ...process.env, STANDIN_CONTAINER: container.name },
      });
      return result.status ?? 1;
    }
    default:
      process.stderr.write(`docker stand-in: no '${command}'\n`);
      return 1;
  }
}

process.exitCode = main(process.argv.slice(2));
