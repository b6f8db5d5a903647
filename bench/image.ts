// Benchmark: runner image build time (no layer cache, then cached) and container start → agent online on the emulator.
import { randomBytes } from 'node:crypto';
import { docker, startDocker } from '../tests/support/docker.js';
import { run } from '../tests/support/process.js';
import { startEmulator } from '../tests/support/emulator.js';
import { agentPackage } from '../tests/support/agent-package.js';
import { buildRunnerImage, discoverAgentPackage, ensureBaseImage } from '../tests/support/runner-image.js';

const POOL = 'bench';
const IMAGE = 'localhost/azp-runner:bench';
const token = `pat-${randomBytes(20).toString('hex')}`;

async function seconds(action: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await action();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

async function main() {
  const engine = await startDocker();
  const emulator = await startEmulator({
    pats: [{ token, user: 'bench@example', scopes: ['vso.agentpools_manage'] }],
    pools: [POOL],
    agentPackage: await agentPackage(),
  });
  const container = `adr-bench-${process.pid}`;
  try {
    await ensureBaseImage();
    const pkg = await discoverAgentPackage(emulator.orgUrl, token);
    const build = { tag: IMAGE, packageUrl: pkg.downloadUrl, sha256: pkg.hashValue };
    // Cold = no layer cache (the Debian base is imported once and cached; its first debootstrap is not counted).
    console.log(`image-build-cold-s: ${(await seconds(() => buildRunnerImage({ ...build, noCache: true }))).toFixed(1)}`);
    console.log(`image-build-cached-s: ${(await seconds(() => buildRunnerImage(build))).toFixed(1)}`);

    const online = await seconds(async () => {
      await docker(['run', '-d', '--name', container, '--network', 'host', '-e', 'AZP_URL', '-e', 'AZP_POOL', '-e', 'AZP_TOKEN',
        '-e', 'AZP_AGENT_NAME=bench-0', IMAGE], { env: { ...process.env, AZP_URL: emulator.orgUrl, AZP_POOL: POOL, AZP_TOKEN: token } });
      await emulator.admin.waitFor(() => emulator.admin.agents(POOL), (agents) => agents.some((a) => a.status === 'online'), 60_000, 'agent online');
    });
    console.log(`agent-online-s: ${online.toFixed(2)}`);
  } finally {
    await run('docker', ['rm', '-f', container]);
    await run('docker', ['rmi', '-f', IMAGE]);
    await emulator.stop();
    await engine.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
