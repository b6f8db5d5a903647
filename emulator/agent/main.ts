// Entry point of the agent double (bin/Agent.Listener): `configure`, `remove` and `run`, with the real agent's exit codes.
import { dirname, resolve } from 'node:path';
import { configure, ConfigError, remove } from './configure.js';
import { Listener, ReturnCode } from './listener.js';
import { AGENT_VERSION, parseArgs } from './settings.js';

/** The agent root: bin/agent.js lives one level below it. */
const root = resolve(dirname(process.argv[1]), '..');
const log = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2), process.env);
  if (args.flags.has('version')) {
    log(AGENT_VERSION);
    return ReturnCode.Success;
  }
  if (process.getuid?.() === 0 && !process.env.AGENT_ALLOW_RUNASROOT) {
    process.stderr.write('Must not run with sudo\n');
    return ReturnCode.TerminatedError;
  }
  try {
    if (args.command === 'configure') {
      await configure(args, root, process.env, log);
      return ReturnCode.Success;
    }
    if (args.command === 'remove') {
      await remove(args, root, log);
      return ReturnCode.Success;
    }
    if (args.command === 'run') {
      const listener = new Listener(root, args.flags.has('once'), log);
      process.on('SIGTERM', () => listener.stop());
      process.on('SIGINT', () => listener.stop());
      return await listener.run();
    }
    process.stderr.write(`Unknown command '${args.command}'.\n`);
    return ReturnCode.TerminatedError;
  } catch (error) {
    process.stderr.write(`${error instanceof ConfigError ? '' : 'Error: '}${(error as Error).message}\n`);
    return ReturnCode.TerminatedError;
  }
}

main().then((code) => process.exit(code), (error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(ReturnCode.RetryableError);
});
