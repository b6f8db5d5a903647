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

/**
 * The Debian base with what the Docker modes' jobs need in the runner image (docker.io for its CLI, buildah, and
 * setcap for install.sh), from Debian's mirror once: Docker's layer cache keeps it for later runs.
 */
export async function ensureDockerToolsBase(): Promise<string> {
  const tag = 'localhost/debian-docker-tools:bookworm';
  const dockerfile = `FROM ${await ensureBaseImage()}\nRUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker.io buildah libcap2-bin && rm -rf /var/lib/apt/lists/*\n`;
  await docker(['build', '-q', '--network', 'host', '-t', tag, '-'], { input: dockerfile, env: { ...process.env, DOCKER_BUILDKIT: '0' } });
  return tag;
}

/** images/dind/Dockerfile on the Debian base: the dind sidecar's engine, from Debian's packages. */
export async function buildDindImage(tag: string): Promise<string> {
  await docker(['build', '-q', '--network', 'host', '-f', join(root, 'images/dind/Dockerfile'), '-t', tag, '--build-arg', `BASE_IMAGE=${await ensureBaseImage()}`, root],
    { env: { ...process.env, DOCKER_BUILDKIT: '0' } });
  return tag;
}

export interface RunnerImageBuild {
  tag: string;
  /** BASE_IMAGE; the Debian base unless told. */
  baseImage?: string;
  packageUrl: string;
  sha256?: string;
  version?: string;
  /** Build without Docker's layer cache (a cold build). */
  noCache?: boolean;
  /** EXTRA_PACKAGES: apt packages the base lacks, fetched from Debian's mirror. */
  extraPackages?: string;
}

/**
 * Builds the runner image from the Debian base. Host networking lets the build fetch the agent package from the
 * emulator on 127.0.0.1; the base already holds every apt package, so nothing else is reached unless `extraPackages`
 * asks for more (then apt reaches the base's Debian mirror). The image copies the runner helper's bundle from
 * dist/runner, built first from the current sources.
 */
export async function buildRunnerImage(build: RunnerImageBuild): Promise<string> {
  await buildRunner();
  const args = ['build', '--force-rm', '--network', 'host', '-f', join(root, 'images/linux/Dockerfile'), '-t', build.tag,
    '--build-arg', `BASE_IMAGE=${build.baseImage ?? BASE_IMAGE}`, '--build-arg', `AGENT_PACKAGE_URL=${build.packageUrl}`];
  if (build.sha256) args.push('--build-arg', `AGENT_PACKAGE_SHA256=${build.sha256}`);
  if (build.version) args.push('--build-arg', `AGENT_VERSION=${build.version}`);
  if (build.extraPackages) args.push('--build-arg', `EXTRA_PACKAGES=${build.extraPackages}`);
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
