// The runner image's helper (runner/), run by docker/start.sh on the agent's own Node: the parts of a runner pod's
// life that are a program rather than a shell script. Subcommands:
//   docker-proxy   hostSocket's docker sidecar: the node's Docker engine for the job, and the cleanup after it
import { startDockerProxy } from './docker-proxy.js';

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
    case 'docker-proxy': {
      const upstream = required('AZP_DOCKER_SOCKET');
      const proxy = await startDockerProxy({ upstream, listen: required('AZP_DOCKER_PROXY_SOCKET'), podUid: required('RUNNER_POD_UID'), log });
      log(`passing the job's Docker calls to ${upstream}`);
      // Kubernetes stops this sidecar once the agent's job is over, or when the pod is deleted.
      process.once('SIGTERM', () => {
        proxy.stop().then(() => process.exit(0), (error: unknown) => {
          console.error(`runner: error: cleaning up after the job: ${error instanceof Error ? error.message : String(error)}`);
          process.exit(1);
        });
      });
      return;
    }
    default:
      console.error(`runner: error: unknown command '${command ?? ''}' (expected docker-proxy)`);
      process.exit(2);
  }
}

main(process.argv[2]).catch((error: unknown) => {
  console.error(`runner: error: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
