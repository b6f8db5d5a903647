// The runner image's helper (runner/), run by docker/start.sh on the agent's own Node: the parts of a runner pod's
// life that are a program rather than a shell script. Subcommands:
//   handshake [agent dir]   wait for the in-cluster autoscaler to register this pod's agent (AZP_REGISTRATION=autoscaler)
import { awaitRegistration } from './handshake.js';

/** EX_CONFIG, as start.sh: a setting is wrong; restarting will not help. */
const configError = 78;

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    console.error(`runner: error: ${name} is not set`);
    process.exit(configError);
  }
  return value;
}

async function main(command: string | undefined): Promise<void> {
  const log = (message: string) => console.log(`runner: ${message}`);
  switch (command) {
    case 'handshake': {
      process.once('SIGTERM', () => process.exit(143));
      const work = process.env.AZP_WORK ?? '_work';
      const agentDir = process.argv[3] ?? '/azp/agent';
      await awaitRegistration({
        agentDir,
        agentName: required('AZP_AGENT_NAME'),
        podUid: required('RUNNER_POD_UID'),
        poolName: required('AZP_POOL'),
        organizationUrl: required('AZP_URL'),
        workFolder: work.startsWith('/') ? work : `${agentDir}/${work}`,
        env: process.env,
        log,
      });
      return;
    }
    default:
      console.error(`runner: error: unknown command '${command ?? ''}' (expected handshake)`);
      process.exit(2);
  }
}

main(process.argv[2]).catch((error: unknown) => {
  console.error(`runner: error: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
