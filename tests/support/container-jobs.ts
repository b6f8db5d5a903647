// Container jobs (`container:`, `services:`, `target:`) shared by the e2e suite and the benchmark: the service image,
// the images' way to the cluster's registry or to a registry the dind engine pulls from, and one YAML-like job whose
// steps share the workspace between the host and the job container and reach the service on its alias.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JobSpec } from '../../emulator/src/types.js';
import { buildah, pushImage } from './cluster.js';
import { docker } from './docker.js';
import type { DockerWorld } from './docker-jobs.js';
import { run } from './process.js';
import type { TestRegistry } from './registry.js';
import { BASE_IMAGE } from './runner-image.js';

/** The port the service answers on. */
export const servicePort = 7000;

/** Tags a test added to the local engine, removed together at its end. */
export class LocalImages {
  private readonly tags: string[] = [];

  /** Keeps `tag` for removal. */
  add(tag: string): string {
    this.tags.push(tag);
    return tag;
  }

  /** Pushes a local image to the cluster's registry; returns its reference by digest. */
  async push(local: string, nameTag: string): Promise<string> {
    const ref = await pushImage(local, nameTag, 'docker');
    this.add(ref.slice(0, ref.indexOf('@')));
    return ref;
  }

  async remove(): Promise<void> {
    if (this.tags.length > 0) await run('docker', ['rmi', ...this.tags]);
  }
}

/**
 * The service, built on the local engine: a line naming its uid, its variable SERVICE_GREETING and the length of
 * SERVICE_TOKEN to each connection, on `servicePort`. perl-base is in every Debian (minbase included); the handler
 * makes SIGTERM end it (as PID 1 it would ignore it), so a pod ends as soon as its job does. A client that leaves at
 * once (the kubelet's TCP probe) must not end it with a SIGPIPE.
 */
export async function buildServiceImage(images: LocalImages): Promise<string> {
  const server = [
    'use IO::Socket::INET;',
    '$SIG{TERM} = sub { exit 0 };',
    "$SIG{PIPE} = 'IGNORE';",
    `my $server = IO::Socket::INET->new(LocalPort => ${servicePort}, Listen => 5, ReuseAddr => 1) or die "listen: $!";`,
    'while (1) { my $client = $server->accept or next;',
    'print $client "service-answers uid=$< greeting=" . ($ENV{SERVICE_GREETING} // "none") . " token-length=" . length($ENV{SERVICE_TOKEN} // "") . "\\n";',
    'close $client; }',
  ].join(' ');
  const local = images.add('localhost/adr-container-service:e2e');
  await docker(['build', '-q', '-t', local, '-'], { input: `FROM ${BASE_IMAGE}\nCMD ${JSON.stringify(['/usr/bin/perl', '-e', server])}\n`, env: { ...process.env, DOCKER_BUILDKIT: '0' } });
  return local;
}

/**
 * Pushes a local image to a test registry (plain HTTP, basic auth) through buildah, which the local engine's
 * registry rules do not bind; the credential goes in a file of its own, never on a command line. Returns host:port/name:tag.
 */
export async function pushToRegistry(registry: TestRegistry, local: string, nameTag: string): Promise<string> {
  const ref = `${registry.address}/${nameTag}`;
  const dir = mkdtempSync(join(tmpdir(), 'adr-auth-'));
  try {
    const authfile = join(dir, 'auth.json');
    writeFileSync(authfile, JSON.stringify({ auths: { [registry.address]: { auth: Buffer.from(`${registry.username}:${registry.password}`).toString('base64') } } }), { mode: 0o600 });
    await buildah(['pull', '--quiet', `docker-daemon:${local}`]);
    await buildah(['push', '--quiet', '--tls-verify=false', '--authfile', authfile, local, `docker://${ref}`]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return ref;
}

/**
 * The dind sidecar's image as a user would make it for a plain-HTTP registry: the world's, with an
 * /etc/docker/daemon.json that lists the registry as insecure. Pushed to the cluster's registry; returns its reference.
 */
export async function dindImageTrusting(world: DockerWorld, images: LocalImages, registryAddress: string): Promise<string> {
  const local = images.add('localhost/azp-dind-trusting:e2e');
  const daemonJson = JSON.stringify({ 'insecure-registries': [registryAddress] });
  await docker(['build', '-q', '-t', local, '-'], {
    input: `FROM ${world.dindImage}\nRUN mkdir -p /etc/docker && echo '${daemonJson}' >/etc/docker/daemon.json\n`,
    env: { ...process.env, DOCKER_BUILDKIT: '0' },
  });
  return images.push(local, 'azp-dind-trusting:e2e');
}

export interface ContainerJobImages {
  job: string;
  service: string;
  /** A private registry both are pulled from: the job message carries it as a `dockerregistry` endpoint. */
  registry?: { server: string; username: string; password: string };
  /** What the agent must offer (podContainers' capabilities). */
  demands?: string[];
}

/**
 * A YAML-like container job: a host step writes into the workspace, a step in the job container (Debian) reads it,
 * writes its own and asks the service on its alias, a host step reads that back. Without images, the same steps all on
 * the host, with no service: the job without containers that a benchmark sets beside it.
 */
export function workspaceJob(images?: ContainerJobImages): JobSpec {
  const containerLines = [
    '. /etc/os-release',
    'echo "container-os=$ID-$VERSION_CODENAME container-uid=$(id -u) container-pwd=$(pwd) container-sources=$BUILD_SOURCESDIRECTORY"',
    'echo "container-read=$(cat "$BUILD_SOURCESDIRECTORY/host.txt")"',
    'echo "from the container" >"$BUILD_SOURCESDIRECTORY/container.txt"',
    ...(images ? [
      `timeout 10 bash -c 'exec 3<>/dev/tcp/kv/${servicePort} && read -r line <&3 && echo "service-said=$line"'`,
      // The agent's Node and handlers, which its steps run on: a step that could change them would run as the agent.
      'echo "container-externals=$(touch /__a/externals/planted 2>/dev/null && echo writable || echo read-only)"',
    ] : []),
  ];
  const steps = [
    { displayName: 'host writes', target: 'host', script: [
      'echo "pod-uid=$RUNNER_POD_UID host-sources=$BUILD_SOURCESDIRECTORY"',
      'echo "from the host" >"$BUILD_SOURCESDIRECTORY/host.txt"',
    ].join('\n') },
    { displayName: 'in the job container', script: containerLines.join('\n') },
    { displayName: 'host reads', target: 'host', script: 'echo "host-read=$(cat "$BUILD_SOURCESDIRECTORY/container.txt") owner=$(stat -c %u "$BUILD_SOURCESDIRECTORY/container.txt")"' },
  ];
  if (!images) return { name: 'workspace-job', steps: steps.map(({ displayName, script }) => ({ displayName, script })) };
  const { registry } = images;
  return {
    name: 'container-job',
    ...(images.demands && { demands: images.demands }),
    containers: {
      build: { image: images.job, ...(registry && { registry }) },
      cache: { image: images.service, ports: [String(servicePort)], ...(registry && { registry }) },
    },
    container: 'build',
    services: { kv: 'cache' },
    steps,
  };
}
