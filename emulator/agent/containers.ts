// Container jobs in the agent double, in the agent's order and with its command lines (microsoft/azure-pipelines-agent,
// src/Agent.Worker): which containers a job has and where steps run (ExecutionContext.InitializeJob, SetStepTarget),
// their mounts and paths (HostContext.CreateContainerInfo, JobRunner.ExpandProperties, ContainerInfo), starting and
// stopping them (ContainerOperationProvider), and running a step in one (ContainerStepHost). Knobs at their defaults.
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Docker, which, type JobLog, type RunOptions } from './docker.js';

/** A container resource as the job message carries it (Pipelines.ContainerResource). */
export interface ContainerResource {
  alias: string;
  endpoint?: { id: string };
  properties?: {
    image?: string; options?: string; env?: Record<string, string>; ports?: string[]; volumes?: string[];
    mapDockerSocket?: boolean; command?: string; localimage?: boolean;
  };
}

export interface ServiceEndpoint {
  id?: string;
  name: string;
  type?: string;
  data?: Record<string, string>;
  authorization?: { scheme?: string; parameters?: Record<string, string> };
}

/** The job message members about containers. */
export interface ContainerJobMessage {
  jobContainer?: string;
  jobSidecarContainers?: Record<string, string>;
  resources: { containers?: ContainerResource[]; endpoints: ServiceEndpoint[] };
}

interface Mount { source?: string; target: string; readOnly: boolean }

/** Agent.Sdk ContainerInfo, the parts the double uses. */
export interface ContainerInfo {
  /** The resource alias (ContainerName): what `target:` names. */
  name: string;
  image: string;
  displayName: string;
  isJobContainer: boolean;
  networkAlias?: string;
  registryEndpoint?: string;
  createOptions: string;
  env: Record<string, string>;
  command: string;
  mapDockerSocket: boolean;
  skipPull: boolean;
  ports: string[];
  mounts: Mount[];
  id?: string;
  userName?: string;
  userId?: string;
  nodePath?: string;
}

/** The agent's folders (WellKnownDirectory): root, work, and this job's build directory `_work/N`. */
export interface AgentDirs {
  root: string;
  work: string;
  /** HostContext's Tools folder: AGENT_TOOLSDIRECTORY, else the work folder's _tool. */
  tools: string;
  buildDir: string;
}

const NODE_PATH_LABEL = 'com.azure.dev.pipelines.agent.handler.node.path';
const SUDO_GROUP = 'azure_pipelines_sudo';
const USER_SUFFIX = '_azpcontainer';
const REQUIRED_API = [1, 35];
/** Test knob: the file the "already inside a container" check reads. */
const cgroupFile = () => process.env.AGENT_DOUBLE_PROC1_CGROUP ?? '/proc/1/cgroup';

/** Pipelines.Validation.NameValidation.Sanitize: letters and `_`, digits after the first kept character. */
function sanitize(name: string): string {
  let out = '';
  for (const char of name) if (/[A-Za-z_]/.test(char) || (/[0-9]/.test(char) && out.length > 0)) out += char;
  return out;
}

/** MountVolume(string): `[source:]target[:ro|:rw]`. */
function parseVolume(text: string): Mount {
  let volume = text;
  let readOnly = false;
  if (/:ro$/i.test(volume)) { readOnly = true; volume = volume.slice(0, -3); } else if (/:rw$/i.test(volume)) volume = volume.slice(0, -3);
  if (volume.startsWith(':')) volume = volume.slice(1);
  const parts = volume.split(':');
  return parts.length >= 2 ? { source: parts[0], target: parts[1], readOnly } : { target: parts[0], readOnly };
}

/** HostContext.CreateContainerInfo plus JobRunner.ExpandProperties (user volumes; no variable expansion). */
function containerInfo(resource: ContainerResource, isJobContainer: boolean): ContainerInfo {
  const properties = resource.properties ?? {};
  const image = properties.image ?? '';
  if (!image) throw new Error("Value cannot be null or empty. (Parameter 'containerImage')");
  // DefaultMapDockerSocketToFalse is on: the socket is mapped only when the resource asks for it.
  const mapDockerSocket = properties.mapDockerSocket === true;
  const mounts: Mount[] = isJobContainer && mapDockerSocket ? [{ source: '/var/run/docker.sock', target: '/var/run/docker.sock', readOnly: false }] : [];
  mounts.push(...(properties.volumes ?? []).map(parseVolume));
  return {
    name: resource.alias, image, displayName: `${resource.alias}_${sanitize(image)}_${randomUUID().replace(/-/g, '').slice(0, 6)}`,
    isJobContainer, registryEndpoint: resource.endpoint?.id, createOptions: properties.options ?? '', env: { ...properties.env },
    command: properties.command ?? '', mapDockerSocket, skipPull: properties.localimage === true, ports: [...(properties.ports ?? [])], mounts,
  };
}

/** ExecutionContext.InitializeJob: the job container, then the other resources, then the services (sidecars). */
export function jobContainers(message: ContainerJobMessage): { containers: ContainerInfo[]; defaultTarget?: ContainerInfo } {
  const resources = message.resources.containers ?? [];
  const same = (a: string, b: string | undefined) => a.toLowerCase() === b?.toLowerCase();
  const containers: ContainerInfo[] = [];
  let defaultTarget: ContainerInfo | undefined;
  if (message.jobContainer) {
    const resource = resources.find((r) => same(r.alias, message.jobContainer));
    if (!resource) throw new Error(`The job container ${message.jobContainer} is not among the job's container resources.`);
    defaultTarget = containerInfo(resource, true);
    containers.push(defaultTarget);
  }
  const sidecars = Object.entries(message.jobSidecarContainers ?? {});
  for (const resource of resources) {
    if (!same(resource.alias, message.jobContainer) && !sidecars.some(([, alias]) => same(resource.alias, alias))) containers.push(containerInfo(resource, true));
  }
  for (const [networkAlias, alias] of sidecars) {
    const resource = resources.find((r) => same(r.alias, alias));
    if (!resource) throw new Error(`The service ${networkAlias} names ${alias}, which is not among the job's container resources.`);
    containers.push({ ...containerInfo(resource, false), networkAlias });
  }
  return { containers, defaultTarget };
}

/** ExecutionContext.SetStepTarget: `host`, a (non-service) container by alias, else the job's default target. */
export function stepTarget(target: string | undefined, containers: ContainerInfo[], defaultTarget: ContainerInfo | undefined): ContainerInfo | undefined {
  if (target === undefined) return defaultTarget;
  if (target.toLowerCase() === 'host') return undefined;
  return containers.find((c) => c.isJobContainer && c.name.toLowerCase() === target.toLowerCase()) ?? defaultTarget;
}

/** ContainerInfo.TranslateToContainerPath with the Linux path mappings: the tools → /__t, _work → /__w, the root → /__a. */
export function toContainerPath(path: string, dirs: AgentDirs): string {
  for (const [host, container] of [[dirs.tools, '/__t'], [dirs.work, '/__w'], [dirs.root, '/__a']]) {
    if (path === host) return container;
    if (path.startsWith(`${host}/`)) return container + path.slice(host.length);
  }
  return path;
}

/** .NET System.Version ordering of the parts present (an absent part sorts below 0). */
function versionBelow(parts: number[], required: number[]): boolean {
  for (let i = 0; i < Math.max(parts.length, required.length); i++) {
    const [a, b] = [parts[i] ?? -1, required[i] ?? -1];
    if (a !== b) return a < b;
  }
  return false;
}

/** DockerCommandManager.DockerVersion's reading: the first `major.minor[.patch]` in the output. */
function parseVersion(text: string | undefined, name: string): number[] {
  const match = /\d+\.\d+(\.\d+)?/.exec(text ?? '');
  if (!match) throw new Error(`Value cannot be null. (Parameter '${name}')`);
  return match[0].split('.').map(Number);
}

/** ContainerOperationProvider.KeepAllowedLength. */
const keepAllowedLength = (name: string, allowed: number, suffix: string) => `${name.slice(0, Math.min(allowed - suffix.length, name.length))}${suffix}`;

/** ContainerOperationProvider and ContainerStepHost for one job. */
export class ContainerJob {
  /** Variables the agent sets while starting containers (agent.containernetwork, agent.services.*, …). */
  readonly variables: Record<string, string> = {};
  private readonly docker: Docker;
  private readonly network = `vsts_network_${randomUUID().replace(/-/g, '')}`;

  /** Throws, as the agent's DockerCommandManager.Initialize does, when no `docker` is on PATH. */
  constructor(private readonly containers: ContainerInfo[], private readonly endpoints: ServiceEndpoint[], private readonly dirs: AgentDirs, private readonly log: JobLog) {
    this.docker = new Docker(which('docker'), createHash('sha256').update(dirs.root.toLowerCase()).digest('hex').slice(0, 6), dirs.work, log);
  }

  /** StartContainersAsync. */
  async start(): Promise<void> {
    throwIfAlreadyInContainer();
    const docker = this.docker;
    const server = (await docker.lines('version', "--format '{{.Server.APIVersion}}'"))[0];
    this.log.output(`Docker daemon API version: ${server}`);
    const client = (await docker.lines('version', "--format '{{.Client.APIVersion}}'"))[0];
    this.log.output(`Docker client API version: ${client}`);
    const [serverVersion, clientVersion] = [parseVersion(server, 'ServerVersion'), parseVersion(client, 'ClientVersion')];
    if (versionBelow(serverVersion, REQUIRED_API)) throw new Error(`Min required docker engine API server version is '${REQUIRED_API.join('.')}', your docker ('${docker.path}') server version is '${serverVersion.join('.')}'`);
    if (versionBelow(clientVersion, REQUIRED_API)) throw new Error(`Min required docker engine API client version is '${REQUIRED_API.join('.')}', your docker ('${docker.path}') client version is '${clientVersion.join('.')}'`);

    for (const stale of await docker.lines('ps', `--all --quiet --no-trunc --filter "label=${docker.label}"`)) {
      const code = await docker.code('rm', `--force ${stale}`);
      if (code !== 0) this.log.warning(`Delete stale containers failed, docker rm fail with exit code ${code} for container ${stale}`);
    }
    const pruned = await docker.code('network', `prune --force --filter "label=${docker.label}"`);
    if (pruned !== 0) this.log.warning(`Delete stale container networks failed, docker network prune fail with exit code ${pruned}`);

    for (const container of this.containers) await this.pull(container);

    await docker.lines('info', '-f "{{range .Plugins.Network}}{{println .}}{{end}}"');
    const created = await docker.code('network', `create --label ${docker.label} ${this.network} `);
    if (created !== 0) throw new Error(`Docker network create failed with exit code ${created}`);
    this.variables['agent.containernetwork'] = this.network;

    for (const container of this.containers) await this.startContainer(container);
    this.variables['agent.containermapping'] = JSON.stringify(Object.fromEntries(this.containers.map((c) => [c.name, { id: c.id }])), null, 2);
    for (const container of this.containers.filter((c) => !c.isJobContainer)) await this.healthcheck(container);
  }

  /** StopContainersAsync: runs whatever happened before (the agent's post-job step has condition Always). */
  async stop(): Promise<void> {
    const docker = this.docker;
    for (const container of this.containers.filter((c) => c.id)) {
      this.log.output(`Stop and remove container: ${container.displayName}`);
      const code = await docker.code('rm', `--force ${container.id}`);
      if (code !== 0) this.log.warning(`Docker rm fail with exit code ${code}`);
    }
    this.log.output(`Remove container network: ${this.network}`);
    const code = await docker.code('network', `rm ${this.network}`);
    if (code !== 0) this.log.warning(`Docker network rm failed with exit code ${code}`);
  }

  /** PullContainerAsync: login for a registry endpoint, pull, logout. Only the username/password registry type is modelled. */
  private async pull(container: ContainerInfo): Promise<void> {
    const docker = this.docker;
    let registryServer = '';
    if (container.registryEndpoint) {
      const endpoint = this.endpoints.find((e) => e.type === 'dockerregistry' && e.id === container.registryEndpoint);
      if (!endpoint) throw new Error("Value cannot be null. (Parameter 'registryEndpoint')");
      if (endpoint.data?.registrytype?.toUpperCase() === 'ACR') throw new Error('The agent double does not model ACR registry endpoints.');
      const { registry = '', username = '', password = '' } = endpoint.authorization?.parameters ?? {};
      registryServer = registry;
      for (const [name, value] of [['registryServer', registry], ['username', username], ['password', password]]) {
        if (!value) throw new Error(`Value cannot be null or empty. (Parameter '${name}')`);
      }
      const code = await docker.code('login', `--username "${username}" --password-stdin ${registry}`, [password]);
      if (code !== 0) throw new Error(`Docker login fail with exit code ${code}`);
    }
    try {
      if (!container.skipPull) {
        if (registryServer && !registryServer.toLowerCase().includes('index.docker.io')) {
          const authority = new URL(registryServer).host;
          if (!container.image.toLowerCase().startsWith(authority.toLowerCase())) container.image = `${authority}/${container.image}`;
        }
        const code = await docker.code('pull', container.image);
        if (code !== 0) throw new Error(`Docker pull failed with exit code ${code}`);
      }
    } finally {
      if (registryServer) {
        const code = await docker.code('logout', registryServer);
        if (code !== 0) this.log.output(`##[error]Docker logout fail with exit code ${code}`);
      }
    }
  }

  /** StartContainerAsync on Linux, legacy node selection (the knobs' defaults). */
  private async startContainer(container: ContainerInfo): Promise<void> {
    const docker = this.docker;
    const { work, tools, root, buildDir } = this.dirs;
    const translate = (path: string) => toContainerPath(path, this.dirs);
    const taskKey = join(work, '.taskkey');
    if (!existsSync(taskKey)) writeFileSync(taskKey, '');
    container.mounts.push(
      { source: buildDir, target: translate(buildDir), readOnly: false },
      { source: join(work, '_temp'), target: translate(join(work, '_temp')), readOnly: false },
      { source: join(work, '_tasks'), target: translate(join(work, '_tasks')), readOnly: false },
      { source: tools, target: translate(tools), readOnly: false },
      { source: join(root, 'externals'), target: translate(join(root, 'externals')), readOnly: true },
      { source: taskKey, target: translate(taskKey), readOnly: false },
    );
    if (container.isJobContainer) {
      const nodePath = translate(join(root, 'externals', 'node', 'bin', 'node'));
      const custom = (await docker.lines('inspect', `--format="{{index .Config.Labels \\"${NODE_PATH_LABEL}\\"}}" ${container.image}`))[0];
      const keepAlive = (node: string) => `'${node}' -e 'setInterval(function(){}, 24 * 60 * 60 * 1000);'`;
      container.command = custom ? keepAlive(custom).replace(/'/g, '"') : `bash -c "${keepAlive(nodePath)}"`;
      container.nodePath = custom || nodePath;
    }

    container.id = (await docker.lines('create', this.createOptions(container)))[0];
    if (!container.id) throw new Error("Value cannot be null or empty. (Parameter 'ContainerId')");
    if (container.isJobContainer) this.variables['agent.containerid'] = container.id;
    const started = await docker.code('start', container.id);
    if (started !== 0) throw new Error(`Docker start fail with exit code ${started}`);
    try {
      const running = await docker.lines('ps', `--all --filter id=${container.id} --filter status=running --no-trunc --format "{{.ID}} {{.Status}}"`);
      if (!running.find((line) => line)?.startsWith(container.id)) {
        await docker.lines('ps', `--all --filter id=${container.id} --no-trunc --format "{{.ID}} {{.Status}}"`);
        const logs = await docker.code('logs', `--details ${container.id}`);
        if (logs !== 0) this.log.warning(`Docker logs fail with exit code ${logs}`);
        this.log.warning(`Docker container ${container.id} is not in running state.`);
      }
    } catch { /* the agent's status check is best effort */ }

    if (!container.isJobContainer) {
      for (const line of await docker.lines('port', container.id)) {
        const match = /^(\d+)\/(\w+) -> (.+):(\d+)$/.exec(line);
        if (match) this.variables[`agent.services.${container.networkAlias}.ports.${match[1]}`] = match[4];
      }
    }
    if (container.isJobContainer) await this.setUpUser(container);
    this.log.output(`Container setup complete: ${container.name}`);
  }

  /** DockerCreate's option string. */
  private createOptions(container: ContainerInfo): string {
    const docker = this.docker;
    const options = [`--name ${container.displayName}`, `--label ${docker.label}`, `--network ${this.network}`];
    if (container.networkAlias) options.push(`--network-alias ${container.networkAlias}`);
    options.push(...container.ports.map((port) => `-p ${port}`), container.createOptions);
    for (const [key, value] of Object.entries(container.env)) options.push(value ? `-e "${key}=${value.replace(/"/g, '\\"')}"` : `-e "${key}"`);
    for (const mount of container.mounts) {
      const quote = (path: string) => `"${path.replace(/"/g, '\\"')}"`;
      options.push(`-v ${mount.source ? `${quote(mount.source)}:` : ''}${quote(mount.target)}${mount.readOnly ? ':ro' : ''}`);
    }
    options.push(container.image, container.command);
    return options.join(' ');
  }

  /** The agent's DockerExec helper: a non-zero exit throws unless told not to. */
  private async exec(container: ContainerInfo, command: string, noExceptionOnError = false): Promise<string[]> {
    const result = await this.docker.exec(container.id ?? '', '', command);
    if (result.code !== 0 && !noExceptionOnError) {
      throw new Error(`Docker-exec executed: \`${command}\`; container id: \`${container.id}\`; exit code: \`${result.code}\`; ${result.lines.length ? `command output: ${result.lines.map((l) => `\`${l}\``).join(', ')}` : 'command does not have output'}`);
    }
    return result.lines;
  }

  /** ExecuteCommandAsync: a host command (whoami, id, stat), logged, its output lines returned; non-zero throws. */
  private host(command: string, args: string[]): string {
    this.log.command(`${command} ${args.join(' ')}`);
    const output = execFileSync(command, args, { cwd: this.dirs.work, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n').filter(Boolean);
    output.forEach((line) => this.log.output(line));
    return output[0] ?? '';
  }

  /** The job container's user: one with the agent's uid, in a passwordless sudo group (and the socket's group when mapped). */
  private async setUpUser(container: ContainerInfo): Promise<void> {
    await this.exec(container, 'sh -c "command -v bash"');
    const userName = this.host('whoami', []);
    const userId = this.host('id', ['-u', userName]);
    const groupId = this.host('id', ['-g', userName]);
    const groupName = this.host('id', ['-gn', userName]);
    this.log.output(`Try to create a user with UID '${userId}' inside the container.`);
    let containerUser = '';
    for (const name of await this.exec(container, `bash -c "getent passwd ${userId} | cut -d: -f1 "`)) {
      try {
        await this.exec(container, `id -u ${name}`);
        containerUser = name;
        break;
      } catch { /* the next name */ }
    }
    // UseHostGroupId is on by default: a host gid unlike the uid becomes the new user's primary group.
    const useHostGroupId = /^\d+$/.test(groupId) && /^\d+$/.test(userId) && groupId !== userId;
    const alpineMessage = 'Alpine-based image detected.';
    const alpine = (await this.exec(container, `bash -c "if [[ -e '/etc/alpine-release' ]]; then echo '${alpineMessage}'; fi"`)).includes(alpineMessage);
    let useShadow = true;
    if (alpine) {
      const shadowPreinstalled = (await this.exec(container, 'apk list --installed | grep shadow')).some((line) => line.includes('{shadow}'));
      const outsideAdduserRange = Number(userId) > 256000;
      if (outsideAdduserRange && !shadowPreinstalled) {
        try {
          await this.exec(container, 'apk add shadow');
        } catch {
          throw new Error("The user ID is outside the range of the 'adduser' command. The alternative command 'useradd' cannot be used because the 'shadow' package is not preinstalled and the attempt to install this package failed. Check network availability or use a docker image with the 'shadow' package preinstalled.");
        }
      }
      useShadow = shadowPreinstalled || outsideAdduserRange;
    }
    const busybox = alpine && !useShadow;
    const addGroup = (group: string) => (busybox ? `addgroup ${group}` : `groupadd ${group}`);
    const addGroupWithId = (group: string, id: string) => (busybox ? `addgroup -g ${id} ${group}` : `groupadd -g ${id} ${group}`);
    const addUserWithId = (user: string, id: string) => (busybox ? `adduser -D -u ${id} ${user}` : `useradd -m -u ${id} ${user}`);
    const addUserWithIdAndGroup = (user: string, id: string, group: string) => (busybox ? `adduser -D -G ${group} -u ${id} ${user}` : `useradd -m -g ${group} -u ${id} ${user}`);
    const addUserToGroup = (user: string, group: string) => (busybox ? `addgroup ${user} ${group}` : `usermod -a -G ${group} ${user}`);

    if (!containerUser) {
      containerUser = keepAllowedLength(userName, 32, USER_SUFFIX);
      const fallback = addUserWithId(containerUser, userId);
      if (useHostGroupId) {
        try {
          const containerGroup = keepAllowedLength(groupName, 32, USER_SUFFIX);
          await this.exec(container, addGroupWithId(containerGroup, groupId));
          await this.exec(container, addUserWithIdAndGroup(containerUser, userId, containerGroup));
        } catch {
          await this.exec(container, fallback);
        }
      } else {
        await this.exec(container, fallback);
      }
    }
    this.log.output(`Grant user '${containerUser}' SUDO privilege and allow it run any command without authentication.`);
    await this.exec(container, addGroup(SUDO_GROUP));
    await this.exec(container, addUserToGroup(containerUser, SUDO_GROUP));
    await this.exec(container, `su -c "echo '%${SUDO_GROUP} ALL=(ALL:ALL) NOPASSWD:ALL' >> /etc/sudoers"`);

    if (container.mapDockerSocket) {
      this.log.output(`Allow user '${containerUser}' run any docker command without SUDO.`);
      const socketGroupId = this.host('stat', ['-c', '%g', '/var/run/docker.sock']);
      let socketGroup = (await this.exec(container, 'bash -c "cat /etc/group"'))
        .map((line) => line.split(':')).find((fields) => fields.length === 4 && fields[2] === socketGroupId)?.[0];
      if (!socketGroup) {
        socketGroup = 'azure_pipelines_docker';
        await this.exec(container, addGroupWithId(socketGroup, socketGroupId));
      }
      await this.exec(container, addUserToGroup(containerUser, socketGroup));
    }

    // The agent probes its Node 24, then its Node 20 on a glibc error, for its task handlers; the double's steps run on
    // the keep-alive's Node, so only the probes' command lines are modelled.
    const glibcError = (lines: string[]) => lines.some((line) => /version `GLIBC_2\.2[578]' not found/.test(line));
    const probe = (folder: string) => this.exec(container, `bash -c "${toContainerPath(join(this.dirs.root, 'externals', folder, 'bin', 'node'), this.dirs)} -v"`, true);
    if (glibcError(await probe('node24'))) await probe('node20_1');
    container.userName = containerUser;
    container.userId = userId;
  }

  /** ContainerHealthcheck: wait while the service's HEALTHCHECK says starting; anything but healthy fails the job. */
  private async healthcheck(container: ContainerInfo): Promise<void> {
    const docker = this.docker;
    const health = async () => (await docker.lines('inspect', `--format="{{if .Config.Healthcheck}}{{print .State.Health.Status}}{{end}}" ${container.id}`))[0] ?? '';
    let status = await health();
    if (!status) return;
    for (let retry = 0; status.toLowerCase() === 'starting'; retry++) {
      const seconds = Math.min(32, 2 ** (retry + 1));
      this.log.output(`${container.networkAlias} service is starting, waiting ${seconds} seconds before checking again.`);
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
      status = await health();
    }
    if (status.toLowerCase() !== 'healthy') throw new Error(`Failed to initialize, ${container.networkAlias} service is ${status}.`);
    this.log.output(`${container.networkAlias} service is healthy.`);
  }

  /**
   * ContainerStepHost.ExecuteAsync: the invoker copied into _temp, then `docker exec -i -u <uid> -w <home> <id> <node>
   * <invoker>` with the handler's JSON on stdin. Returns the exit code.
   */
  runStep(container: ContainerInfo, payload: { handler: string; args: string; workDir: string; environment: Record<string, string> }, options: Pick<RunOptions, 'onLine' | 'onChild'>): Promise<number> {
    const invoker = join(this.dirs.work, '_temp', 'containerHandlerInvoker.js');
    copyFileSync(join(this.dirs.root, 'bin', 'containerHandlerInvoker.js.template'), invoker);
    const home = container.userName === 'root' ? '/root' : `/home/${container.userName}`;
    const arg = `exec -i -u ${container.userId}  -w ${home} ${container.id} ${container.nodePath} ${toContainerPath(invoker, this.dirs)}`;
    return this.docker.run(arg, { stdin: [JSON.stringify(payload)], ...options }).then((result) => result.code);
  }
}

/** ThrowIfAlreadyInContainer on Linux: `:/docker/` in /proc/1/cgroup, ignoring case; a missing file means not in one. */
function throwIfAlreadyInContainer(): void {
  let text: string;
  try {
    text = readFileSync(cgroupFile(), 'utf8');
  } catch {
    return;
  }
  if (text.split('\n').some((line) => line.toLowerCase().includes(':/docker/'))) {
    throw new Error('Container feature is not supported when agent is already running inside container. Please reference documentation (https://go.microsoft.com/fwlink/?linkid=875268)');
  }
}
