// The runner pod's side of registration by the autoscaler (src/core/registration.ts): make the agent's key, serve the
// registration request on the handshake port, sealed to the autoscaler's key, take the one grant the autoscaler signed
// for it (src/core/handshake-trust.ts), write the agent's settings, and end so the agent runs.
import { createCipheriv, createHash, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, verify } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { accessSync, constants, readFileSync, writeFileSync } from 'node:fs';
import { hostname, release } from 'node:os';
import { delimiter, join } from 'node:path';
import {
  agentSettingsFiles, autoscalerKeyVariables, grantProblem, grantStatement, handshakeBodyLimit, handshakePort, rawKeyProblem, reportedVariables,
  sealContext, signedGrantProblem, type AutoscalerPublicKeys, type RegistrationRequest, type SealedRequest, type SignedGrant,
} from '../src/core/index.js';
import { SettingError } from './settings.js';

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
  const tools: Record<string, string> = {};
  for (const [capability, file] of agentToolScan) {
    const found = capability in tools ? undefined : onPath(file, env.PATH ?? '');
    if (found) tools[capability] = found;
  }
  return {
    ...reportedVariables(env),
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
      if (text.length > handshakeBodyLimit) req.destroy(new Error('too large'));
    });
    req.on('end', () => resolve(text));
    req.on('error', reject);
  });
}

/** The request, readable only with the autoscaler's X25519 private key: a one-time key pair, HKDF, AES-256-GCM. */
export function sealRequest(request: RegistrationRequest, recipient: string): SealedRequest {
  const own = generateKeyPairSync('x25519');
  const key = own.publicKey.export({ format: 'jwk' }).x!;
  const shared = diffieHellman({ privateKey: own.privateKey, publicKey: createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: recipient }, format: 'jwk' }) });
  const { salt, info } = sealContext(key, recipient);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(hkdfSync('sha256', shared, salt, info, 32)), iv);
  const data = Buffer.concat([cipher.update(JSON.stringify(request), 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return { version: 1, key, iv: iv.toString('base64url'), data: data.toString('base64url') };
}

/** Why a POSTed body is not the grant the autoscaler signed for `request`; undefined when it is. */
export function signedGrantRefusal(body: unknown, request: RegistrationRequest, autoscalerKey: string): string | undefined {
  const shape = signedGrantProblem(body);
  if (shape !== undefined) return shape;
  const { grant, signature } = body as SignedGrant;
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: autoscalerKey }, format: 'jwk' });
  if (!verify(null, Buffer.from(grantStatement(grant, request), 'utf8'), key, Buffer.from(signature, 'base64url'))) {
    return "its signature is not the autoscaler's over this pod's request (forged, replayed, or made for another pod)";
  }
  return undefined;
}

/** The pod's identity and pool, from the agent container's environment (the downward API and DeployRunnerPool). */
export function readHandshakeSettings(env: NodeJS.ProcessEnv, agentDir: string): Omit<HandshakeSettings, 'log'> {
  const required = (name: string) => {
    const value = env[name];
    if (!value) throw new SettingError(`${name} is not set: handshake mode runs in a runner pod deployed with autoscaling inCluster`);
    return value;
  };
  const work = env.AZP_WORK ?? '_work';
  const key = (name: string) => {
    const value = required(name);
    const problem = rawKeyProblem(value);
    if (problem !== undefined) throw new SettingError(`${name} ${problem}`);
    return value;
  };
  return {
    agentDir,
    agentName: required('AZP_AGENT_NAME'),
    podUid: required('RUNNER_POD_UID'),
    poolName: required('AZP_POOL'),
    organizationUrl: required('AZP_URL'),
    workFolder: work.startsWith('/') ? work : `${agentDir}/${work}`,
    agentVersion: recordedAgentVersion(agentVersionFile),
    autoscalerKeys: { signing: key(autoscalerKeyVariables.signing), encryption: key(autoscalerKeyVariables.encryption) },
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
  /** The pool's autoscaler: the request is sealed to it, and only a grant it signed is taken. */
  autoscalerKeys: AutoscalerPublicKeys;
  env: NodeJS.ProcessEnv;
  port?: number;
  log(message: string): void;
}

/**
 * Serves the registration request until the grant the autoscaler signed for it arrives; resolves once the agent's
 * settings are written. Anything else POSTed is refused (422) and changes nothing: the pod keeps waiting.
 */
export function awaitRegistration(settings: HandshakeSettings): Promise<void> {
  const key = makeAgentKey(settings.agentDir);
  const request: RegistrationRequest = {
    podName: settings.agentName,
    podUid: settings.podUid,
    publicKey: { exponent: key.exponent, modulus: key.modulus },
    keyId: key.keyId,
    nonce: randomBytes(32).toString('base64url'),
    systemCapabilities: agentCapabilities(settings.env, settings.agentName, settings.agentDir, settings.agentVersion),
    ...(settings.agentVersion && { version: settings.agentVersion }),
    osDescription: `Linux ${release()}`,
    acceptsNoticeUrl: true,
  };
  const sealed = JSON.stringify(sealRequest(request, settings.autoscalerKeys.encryption));
  if (sealed.length > handshakeBodyLimit) {
    return Promise.reject(new SettingError(`the registration request is ${sealed.length} bytes, more than the autoscaler reads (${handshakeBodyLimit}): the agent's environment is too large`));
  }
  return new Promise((resolve, reject) => {
    const server = createServer((req, res) => {
      const answer = (status: number, text = ''): void => void res.writeHead(status, { 'content-type': 'text/plain' }).end(text);
      if (req.url !== '/v1/registration') return answer(404);
      if (req.method === 'GET') return void res.writeHead(200, { 'content-type': 'application/json' }).end(sealed);
      if (req.method !== 'POST') return answer(405);
      readBody(req).then((text) => {
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          return answer(400, 'not JSON');
        }
        // Signature first: only then do the grant's names mean anything.
        const problem = signedGrantRefusal(body, request, settings.autoscalerKeys.signing) ?? grantProblem((body as SignedGrant).grant, settings);
        if (problem !== undefined) {
          settings.log(`refused a registration from ${req.socket.remoteAddress}: ${problem}`);
          return answer(422, problem);
        }
        const { grant } = body as SignedGrant;
        const files = agentSettingsFiles(grant, settings.workFolder);
        for (const [name, content] of Object.entries(files)) writeFileSync(join(settings.agentDir, name), content, { mode: 0o600 });
        settings.log(`registered by the autoscaler as agent ${grant.agentName} (id ${grant.agentId}) in pool ${grant.poolName}`);
        answer(204);
        server.close(() => resolve());
      }).catch(() => {
        if (!res.headersSent) answer(400);
      });
    });
    // A peer that sends slowly must not hold the port: the autoscaler sends a whole grant at once.
    server.headersTimeout = 5000;
    server.requestTimeout = 10_000;
    server.on('error', reject);
    server.listen(settings.port ?? handshakePort, () => settings.log(`waiting for the autoscaler to register agent ${settings.agentName} (port ${settings.port ?? handshakePort})`));
  });
}
