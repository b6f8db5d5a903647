// hostSocket mode's docker sidecar: the job's Docker API calls pass through to the node's engine unchanged, except
// that what they create (containers, networks, volumes) gets the pod's UID as a label. When the pod ends, the
// sidecar removes exactly what carries its label: what its own job left, nothing of the other pods on the node. A
// container job's containers it refuses up front (refusedContainerJob).
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { chmodSync, rmSync } from 'node:fs';
import { SettingError, type Log } from './settings.js';

export const podLabel = 'com.azure-devops-runner.pod-uid';

/** The API calls that create a labelled object, with or without a version prefix (`/v1.41/containers/create?name=x`). */
const createCall = /^(\/v[0-9.]+)?\/(containers|networks|volumes)\/create(\?|$)/;

/** A create call's JSON body with the pod's label added; the job's own labels stay. */
export function withPodLabel(body: string, podUid: string): string {
  const object = body.trim() === '' ? {} : (JSON.parse(body) as { Labels?: Record<string, string> | null });
  return JSON.stringify({ ...object, Labels: { ...(object.Labels ?? {}), [podLabel]: podUid } });
}

/** Where the agent mounts its externals in a container job's containers (docs/container-jobs.md). */
const containerJobMount = '/__a/externals';

/**
 * Why a create call is refused, or undefined: a container job's container (the agent binds its externals at
 * /__a/externals into each) cannot work with the node's engine, which sees the node's folders at the agent's paths, not
 * this pod's; refused at once, the job fails with a line naming the modes that run it. A step's own `docker run` passes.
 */
export function refusedContainerJob(path: string, body: string): string | undefined {
  if (!/^(\/v[0-9.]+)?\/containers\/create(\?|$)/.test(path)) return undefined;
  let hostConfig: { Binds?: unknown; Mounts?: unknown } | undefined;
  try {
    hostConfig = (JSON.parse(body) as { HostConfig?: typeof hostConfig }).HostConfig;
  } catch {
    return undefined; // not JSON: the engine refuses it with its own message
  }
  const binds = Array.isArray(hostConfig?.Binds) ? (hostConfig.Binds as unknown[]) : [];
  const mounts = Array.isArray(hostConfig?.Mounts) ? (hostConfig.Mounts as { Target?: unknown }[]) : [];
  const targets = [...binds.map((bind) => String(bind).split(':')[1]), ...mounts.map((mount) => mount?.Target)];
  if (!targets.includes(containerJobMount)) return undefined;
  return `dockerMode hostSocket cannot run container jobs (container:, services:, target:): the node's Docker engine does not see this pod's work folder at the agent's paths; run them on a runner with dockerMode dind or podContainers`;
}

function readBody(message: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    message.on('data', (chunk: Buffer) => chunks.push(chunk));
    message.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    message.on('error', reject);
  });
}

interface Answer {
  status: number;
  body: string;
}

/** One call to the engine on its socket. */
export function engineCall(socketPath: string, method: string, path: string, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    const call = request({ socketPath, method, path, headers }, (response) => {
      readBody(response).then((text) => resolve({ status: response.statusCode ?? 0, body: text }), reject);
    });
    call.on('error', reject);
    call.end(body);
  });
}

/** The HTTP head of a request as received, for a tunnel (attach, exec) that then carries raw bytes both ways. */
function rawHead(message: IncomingMessage): string {
  const lines = [`${message.method} ${message.url} HTTP/${message.httpVersion}`];
  for (let i = 0; i < message.rawHeaders.length; i += 2) lines.push(`${message.rawHeaders[i]}: ${message.rawHeaders[i + 1]}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

export interface DockerProxy {
  server: Server;
  /** Stops taking calls and removes every container, network and volume labelled with the pod's UID. */
  stop(): Promise<void>;
}

export interface DockerProxySettings {
  /** The node's Docker socket, mounted into this sidecar alone. */
  upstream: string;
  /** The socket the agent's job talks to, in the volume the two containers share. */
  listen: string;
  podUid: string;
}

/** The sidecar's settings from its environment (the pod's manifest, the downward API), or a SettingError. */
export function readDockerProxySettings(env: NodeJS.ProcessEnv): DockerProxySettings {
  const missing = ['AZP_DOCKER_SOCKET', 'AZP_DOCKER_PROXY_SOCKET', 'RUNNER_POD_UID'].filter((name) => !env[name]);
  if (missing.length > 0) throw new SettingError(`docker-proxy mode needs ${missing.join(', ')} (set by the runner pod's manifest)`);
  return { upstream: env.AZP_DOCKER_SOCKET!, listen: env.AZP_DOCKER_PROXY_SOCKET!, podUid: env.RUNNER_POD_UID! };
}

/** Serves the engine at `upstream` on the unix socket `listen`, labelling what is created with `podUid`. */
export async function startDockerProxy(options: DockerProxySettings & { log: Log }): Promise<DockerProxy> {
  const { upstream, listen, podUid, log } = options;
  // Before the agent can start (it waits for the socket below): a wrong socket group fails here, and says so.
  await engineCall(upstream, 'GET', '/_ping').catch((caught: unknown) => {
    const error = caught as NodeJS.ErrnoException;
    // Refused access is a setting (restarting won't help); an engine that is down may come back.
    if (error.code === 'EACCES') throw new SettingError(`the node's Docker socket ${upstream} refused this sidecar (EACCES): dockerSocketGroupId must be the group that owns the socket on the node`);
    throw new Error(`the node's Docker engine at ${upstream} did not answer (${error.code ?? error.message})`);
  });
  const server = createServer((incoming, outgoing) => {
    const forward = (headers: IncomingHttpHeaders, body?: string) => {
      const call = request({ socketPath: upstream, method: incoming.method, path: incoming.url, headers }, (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        // At once: the CLI starts a container only once the engine's answer to its wait call has begun.
        outgoing.flushHeaders();
        answer.pipe(outgoing);
      });
      call.on('error', (error) => {
        if (!outgoing.headersSent) outgoing.writeHead(502, { 'content-type': 'application/json' });
        outgoing.end(JSON.stringify({ message: `docker sidecar: the node's engine did not answer: ${error.message}` }));
      });
      if (body === undefined) incoming.pipe(call);
      else call.end(body);
    };
    if (incoming.method === 'POST' && createCall.test(incoming.url ?? '')) {
      readBody(incoming).then((text) => {
        const refused = refusedContainerJob(incoming.url ?? '', text);
        if (refused !== undefined) {
          log(`refused a container job's create: ${refused}`);
          outgoing.writeHead(400, { 'content-type': 'application/json' });
          outgoing.end(JSON.stringify({ message: refused }));
          return;
        }
        let body: string;
        try {
          body = withPodLabel(text, podUid);
        } catch {
          body = text; // not JSON: the engine refuses it with its own message
        }
        // The body is sent whole now, with its new length.
        const headers = { ...incoming.headers, 'content-length': String(Buffer.byteLength(body)) };
        delete headers['transfer-encoding'];
        forward(headers, body);
      }, () => outgoing.destroy());
    } else {
      forward(incoming.headers);
    }
  });
  // attach and exec switch the connection to a raw stream (`Upgrade: tcp`): from then on, bytes pass both ways.
  const tunnels = new Set<Socket>();
  server.on('upgrade', (incoming: IncomingMessage, client: Socket, head: Buffer) => {
    tunnels.add(client);
    client.on('close', () => tunnels.delete(client));
    const engine = connect(upstream, () => {
      engine.write(rawHead(incoming));
      if (head.length > 0) engine.write(head);
      engine.pipe(client);
      client.pipe(engine);
    });
    engine.on('error', () => client.destroy());
    client.on('error', () => engine.destroy());
  });
  // A build context or a long log stream may take longer than Node's default of 5 minutes.
  server.requestTimeout = 0;
  server.timeout = 0;
  rmSync(listen, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen, resolve);
  });
  chmodSync(listen, 0o600); // the agent runs as the same user; nobody else in the pod needs it
  return {
    server,
    async stop() {
      server.close();
      server.closeAllConnections();
      for (const tunnel of tunnels) tunnel.destroy();
      await removeLabelled(upstream, podUid, log);
    },
  };
}

/** Removes the containers (with their anonymous volumes), then the networks and volumes that carry the pod's label. */
export async function removeLabelled(upstream: string, podUid: string, log: Log): Promise<void> {
  const filters = encodeURIComponent(JSON.stringify({ label: [`${podLabel}=${podUid}`] }));
  const list = async <T>(path: string): Promise<T> => {
    const answer = await engineCall(upstream, 'GET', `${path}${path.startsWith('/containers') ? '?all=1&' : '?'}filters=${filters}`);
    if (answer.status !== 200) throw new Error(`GET ${path}: HTTP ${answer.status} ${answer.body.slice(0, 200)}`);
    return JSON.parse(answer.body) as T;
  };
  const remove = async (kind: string, name: string, path: string) => {
    const answer = await engineCall(upstream, 'DELETE', path);
    if (answer.status < 300 || answer.status === 404) log(`removed the ${kind} ${name} this pod's job left`);
    else log(`error: could not remove the ${kind} ${name}: HTTP ${answer.status} ${answer.body.slice(0, 200)}`);
  };
  for (const container of await list<{ Id: string; Names?: string[] }[]>('/containers/json')) {
    await remove('container', container.Names?.[0]?.replace(/^\//, '') ?? container.Id.slice(0, 12), `/containers/${container.Id}?force=1&v=1`);
  }
  for (const network of await list<{ Id: string; Name: string }[]>('/networks')) {
    await remove('network', network.Name, `/networks/${network.Id}`);
  }
  for (const volume of (await list<{ Volumes: { Name: string }[] | null }>('/volumes')).Volumes ?? []) {
    await remove('volume', volume.Name, `/volumes/${encodeURIComponent(volume.Name)}`);
  }
}
