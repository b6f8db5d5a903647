// Test support: the local Debian base image and builds of images/linux/Dockerfile (nothing is pulled).
import { join } from 'node:path';
import { buildRunner } from '../../scripts/build.mjs';
import { docker } from './docker.js';
import { output } from './process.js';

const root = new URL('../..', import.meta.url).pathname;
export const BASE_IMAGE = 'localhost/debian:bookworm';

/** Imports the debootstrapped Debian base (built once, cached under /var/cache/adr). */
export async function ensureBaseImage(): Promise<string> {
  // A first debootstrap takes minutes.
  await output('bash', [join(root, 'tests/support/base-image.sh'), BASE_IMAGE], { timeoutMs: 30 * 60_000 });
  return BASE_IMAGE;
}

export interface RunnerImageBuild {
  tag: string;
  packageUrl: string;
  sha256?: string;
  version?: string;
  /** Build without Docker's layer cache (a cold build). */
  noCache?: boolean;
}

/**
 * Builds the runner image from the Debian base. Host networking lets the build fetch the agent package from the
 * emulator on 127.0.0.1; the base already holds every apt package, so nothing else is reached. The image copies the
 * runner helper's bundle from dist/runner, built first from the current sources.
 */
export async function buildRunnerImage(build: RunnerImageBuild): Promise<string> {
  await buildRunner();
  const args = ['build', '--force-rm', '--network', 'host', '-f', join(root, 'images/linux/Dockerfile'), '-t', build.tag,
    '--build-arg', `BASE_IMAGE=${BASE_IMAGE}`, '--build-arg', `AGENT_PACKAGE_URL=${build.packageUrl}`];
  if (build.sha256) args.push('--build-arg', `AGENT_PACKAGE_SHA256=${build.sha256}`);
  if (build.version) args.push('--build-arg', `AGENT_VERSION=${build.version}`);
  if (build.noCache) args.push('--no-cache');
  await docker([...args, root], { env: { ...process.env, DOCKER_BUILDKIT: '0' } });
  return build.tag;
}

/** The agent package Azure DevOps offers for linux-x64 (`downloadUrl`, `hashValue`), as a pipeline would look it up. */
export async function discoverAgentPackage(orgUrl: string, pat: string): Promise<{ downloadUrl: string; hashValue: string }> {
  const response = await fetch(`${orgUrl}/_apis/distributedtask/packages/agent?platform=linux-x64&$top=1`, {
    headers: { Authorization: `Basic ${Buffer.from(`:${pat}`).toString('base64')}` },
  });
  if (!response.ok) throw new Error(`agent package lookup: HTTP ${response.status}`);
  const [found] = ((await response.json()) as { value: { downloadUrl: string; hashValue: string }[] }).value;
  if (!found) throw new Error('no linux-x64 agent package offered');
  return found;
}
