// `npm run emulator`: the emulator on a fixed port with a sample pool and the agent double as its agent package.
import { buildAgentPackage } from '../agent/package.js';
import { DEFAULT_PAT, startEmulatorServer } from './server.js';

async function main(): Promise<void> {
  const port = Number(process.env.EMULATOR_PORT ?? 8090);
  const agentPackage = await buildAgentPackage();
  const emulator = await startEmulatorServer({ port, host: process.env.EMULATOR_HOST ?? '127.0.0.1', pools: ['Default'], agentPackage });
  process.stdout.write([
    `Azure DevOps emulator listening on ${emulator.url}`,
    `  organisation URL : ${emulator.orgUrl}`,
    `  agent tokens     : ${emulator.authorizationUrl} (Azure DevOps Services issues them on a host of its own)`,
    `  PAT              : ${DEFAULT_PAT.token} (full access; Basic auth, any user name)`,
    `  sample pool      : Default`,
    `  agent package    : ${emulator.orgUrl}/_apis/distributedtask/packages/agent?platform=linux-x64&$top=1`,
    `  admin API        : ${emulator.url}/_admin/... (see emulator/README.md)`,
    '',
    'Point an agent at it:',
    `  curl -fsSL "$(curl -fsSL -u :${DEFAULT_PAT.token} '${emulator.orgUrl}/_apis/distributedtask/packages/agent?platform=linux-x64&$top=1' | node -pe 'JSON.parse(require("fs").readFileSync(0)).value[0].downloadUrl')" | tar xz`,
    `  ./config.sh --unattended --url ${emulator.orgUrl} --auth pat --token ${DEFAULT_PAT.token} --pool Default --agent agent-1 --replace --acceptTeeEula`,
    '  ./run.sh --once',
    `Queue a job: curl -X POST ${emulator.url}/_admin/jobs -H 'Content-Type: application/json' -d '{"pool":"Default","script":"echo hello"}'`,
    '',
  ].join('\n'));
  const stop = () => {
    void emulator.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
