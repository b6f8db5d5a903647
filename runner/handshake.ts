// The runner pod's side of registration by the autoscaler (src/core/registration.ts): make the agent's key, serve the
// registration request on the handshake port, take the grant, write the agent's settings, and end so the agent runs.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { accessSync, constants, readFileSync, writeFileSync } from 'node:fs';
import { hostname, release } from 'node:os';
import { delimiter, join } from 'node:path';
import { agentSettingsFiles, grantProblem, handshakePort, type RegistrationGrant, type RegistrationRequest } from '../src/core/index.js';
import { SettingError } from './settings.js';

/** Variables the agent leaves out of its capabilities (names compared exactly, as on Linux), besides VSO_AGENT_IGNORE's. */
const ignoredVariables = ['comp_wordbreaks', 'ls_colors', 'TERM', 'TERM_PROGRAM', 'TERM_PROGRAM_VERSION', 'SHLVL', 'PSMODULEPATH', 'SYSTEM_ACCESSTOKEN'];

/** Base64 of a JWK number, padded to `bytes` as .NET's RSAParameters needs (it rejects a short D, P, Q …). */
function rsaField(base64url: string | undefined, bytes: number): string {
  const value = Buffer.from(base64url ?? '', 'base64url');
  return Buffer.concat([Buffer.alloc(Math.max(0, bytes - value.length)), value]).toString('base64');
}

/** A new 2048-bit key (e = 65537), stored as the agent stores its own on Linux (`.credentials_rsaparams`, mode 600). */
export function makeAgentKey(agentDir: string): { exponent: string; modulus: string; keyId: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 65537 });
  const jwk = privateKey.export({ format: 'jwk' });
  const size = Buffer.from(jwk.n!, 'base64url').length;
  const half = Math.ceil(size / 2);
  const parameters = {
    d: rsaField(jwk.d, size), dp: rsaField(jwk.dp, half), dq: rsaField(jwk.dq, half), exponent: rsaField(jwk.e, 0),
    inverseQ: rsaField(jwk.qi, half), modulus: rsaField(jwk.n, size), p: rsaField(jwk.p, half), q: rsaField(jwk.q, half),
  };
  writeFileSync(join(agentDir, '.credentials_rsaparams'), JSON.stringify(parameters), { mode: 0o600 });
  return { exponent: parameters.exponent, modulus: parameters.modulus, keyId: createHash('sha256').update(parameters.modulus).digest('hex').slice(0, 16) };
}

/**
 * The tools the Linux agent looks for on PATH at configuration and at every start (its NixCapabilitiesProvider):
 * capability name and the file it finds, first match wins.
 */
const agentToolScan: Array<[capability: string, file: string]> = [
  ['ant', 'ant'], ['AzureGuestAgent', 'waagent'], ['bundler', 'bundle'], ['clang', 'clang'], ['cmake', 'cmake'], ['curl', 'curl'],
  ['docker', 'docker'], ['dotnet', 'dotnet'], ['git', 'git'], ['gulp', 'gulp'], ['java', 'java'], ['JDK', 'javac'], ['make', 'make'],
  ['maven', 'mvn'], ['MSBuild', 'xbuild'], ['MSBuild', 'msbuild'], ['node.js', 'node'], ['node.js', 'nodejs'], ['npm', 'npm'],
  ['python', 'python'], ['python3', 'python3'], ['sh', 'sh'], ['subversion', 'svn'], ['ruby', 'ruby'], ['rake', 'rake'], ['svn', 'svn'],
];

function onPath(file: string, path: string): string | undefined {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    try {
      accessSync(join(dir, file), constants.X_OK);
      return join(dir, file);
    } catch { /* not in this directory */ }
  }
  return undefined;
}

/**
 * What the agent reports about itself, as config.sh registers it and as the agent sends it again in every session:
 * its environment (minus what it ignores), the tools it finds, and its Agent.* facts. The registration must say the
 * same as the running agent will: demands are matched against it before the agent is online, and a runner whose
 * capabilities changed when its agents came online would win or lose waiting jobs of a shared pool by that
 * (src/core/assignment.ts). `agentVersion`: the agent's version, when the image recorded it.
 */
export function agentCapabilities(env: NodeJS.ProcessEnv, agentName: string, agentDir: string, agentVersion?: string): Record<string, string> {
  const ignored = new Set([...ignoredVariables, ...(env.VSO_AGENT_IGNORE ?? '').split(',').map((name) => name.trim())]);
  const fromEnv = Object.entries(env).filter(([name, value]) => value !== undefined && name && value.length < 1024 && !ignored.has(name));
  const tools: Record<string, string> = {};
  for (const [capability, file] of agentToolScan) {
    const found = capability in tools ? undefined : onPath(file, env.PATH ?? '');
    if (found) tools[capability] = found;
  }
  return {
    ...Object.fromEntries(fromEnv as Array<[string, string]>),
    ...tools,
    'Agent.Name': agentName,
    'Agent.OS': 'Linux',
    'Agent.OSArchitecture': process.arch === 'arm64' ? 'ARM64' : 'X64',
    // run.sh starts the agent interactively, not as a service.
    InteractiveSession: 'True',
    ...(agentVersion && { 'Agent.Version': agentVersion }),
    'Agent.ComputerName': hostname(),
    'Agent.HomeDirectory': agentDir,
  };
}

/** Where images/linux/install.sh records the version of the agent it installed. */
const agentVersionFile = '/usr/local/lib/azp/agent-version';

/** The agent's version as the image recorded it at build time (images/linux/install.sh), if it did. */
export function recordedAgentVersion(file: string): string | undefined {
  try {
    const version = readFileSync(file, 'utf8').trim();
    return /^\d+\.\d+\.\d+$/.test(version) ? version : undefined;
  } catch {
    return undefined;
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > 64 * 1024) req.destroy(new Error('too large'));
    });
    req.on('end', () => resolve(text));
    req.on('error', reject);
  });
}

/** The pod's identity and pool, from the agent container's environment (the downward API and DeployRunnerPool). */
export function readHandshakeSettings(env: NodeJS.ProcessEnv, agentDir: string): Omit<HandshakeSettings, 'log'> {
  const required = (name: string) => {
    const value = env[name];
    if (!value) throw new SettingError(`${name} is not set: handshake mode runs in a runner pod deployed with autoscaling inCluster`);
    return value;
  };
  const work = env.AZP_WORK ?? '_work';
  return {
    agentDir,
    agentName: required('AZP_AGENT_NAME'),
    podUid: required('RUNNER_POD_UID'),
    poolName: required('AZP_POOL'),
    organizationUrl: required('AZP_URL'),
    workFolder: work.startsWith('/') ? work : `${agentDir}/${work}`,
    agentVersion: recordedAgentVersion(agentVersionFile),
    env,
  };
}

export interface HandshakeSettings {
  agentDir: string;
  agentName: string;
  podUid: string;
  poolName: string;
  organizationUrl: string;
  workFolder: string;
  /** The agent's version, reported at registration as config.sh does; absent when the image did not record it. */
  agentVersion?: string;
  env: NodeJS.ProcessEnv;
  port?: number;
  log(message: string): void;
}

/** Serves the registration request until a valid grant arrives; resolves once the agent's settings are written. */
export function awaitRegistration(settings: HandshakeSettings): Promise<void> {
  const key = makeAgentKey(settings.agentDir);
  const request: RegistrationRequest = {
    podName: settings.agentName,
    podUid: settings.podUid,
    publicKey: { exponent: key.exponent, modulus: key.modulus },
    keyId: key.keyId,
    systemCapabilities: agentCapabilities(settings.env, settings.agentName, settings.agentDir, settings.agentVersion),
    ...(settings.agentVersion && { version: settings.agentVersion }),
    osDescription: `Linux ${release()}`,
  };
  return new Promise((resolve, reject) => {
    const server = createServer((req, res) => {
      const answer = (status: number, text = ''): void => void res.writeHead(status, { 'content-type': 'text/plain' }).end(text);
      if (req.url !== '/v1/registration') return answer(404);
      if (req.method === 'GET') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(request));
      if (req.method !== 'POST') return answer(405);
      readBody(req).then((text) => {
        let grant: RegistrationGrant;
        try {
          grant = JSON.parse(text) as RegistrationGrant;
        } catch {
          return answer(400, 'not JSON');
        }
        const problem = grantProblem(grant, settings);
        if (problem !== undefined) {
          settings.log(`refused a registration from ${req.socket.remoteAddress}: ${problem}`);
          return answer(422, problem);
        }
        const files = agentSettingsFiles(grant, settings.workFolder);
        for (const [name, content] of Object.entries(files)) writeFileSync(join(settings.agentDir, name), content, { mode: 0o600 });
        settings.log(`registered by the autoscaler as agent ${grant.agentName} (id ${grant.agentId}) in pool ${grant.poolName}`);
        answer(204);
        server.close(() => resolve());
      }, () => answer(400));
    });
    server.on('error', reject);
    server.listen(settings.port ?? handshakePort, () => settings.log(`waiting for the autoscaler to register agent ${settings.agentName} (port ${settings.port ?? handshakePort})`));
  });
}
