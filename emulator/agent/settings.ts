// The agent double's command line, its VSTS_AGENT_INPUT_* environment forms, and the files it keeps in the agent root.
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Version reported by the double (numeric so `Agent.Version -gtVersion` demands compare; not a real release). */
export const AGENT_VERSION = '4.999.0';

const FLAGS = new Set(['unattended', 'replace', 'acceptteeeula', 'disableloguploads', 'once', 'help', 'version']);
/** Inputs that are secrets: masked, and removed from the environment so no capability or job ever sees them. */
const SECRETS = ['token', 'password', 'clientsecret'];

export interface Args {
  command: string;
  flags: Set<string>;
  values: Map<string, string>;
}

/** Parses `[command] --name value --flag`, then fills gaps from VSTS_AGENT_INPUT_<NAME> and deletes the secret variables. */
export function parseArgs(argv: string[], env: NodeJS.ProcessEnv): Args {
  const args: Args = { command: '', flags: new Set(), values: new Map() };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      args.command ||= arg.toLowerCase();
      continue;
    }
    const name = arg.slice(2).toLowerCase();
    if (FLAGS.has(name)) args.flags.add(name);
    else args.values.set(name, argv[++i] ?? '');
  }
  for (const [key, value] of Object.entries(env)) {
    const match = /^VSTS_AGENT_INPUT_(\w+)$/i.exec(key);
    if (!match || value === undefined) continue;
    const name = match[1].toLowerCase();
    if (FLAGS.has(name)) {
      if (value.toLowerCase() === 'true') args.flags.add(name);
    } else if (!args.values.has(name)) {
      args.values.set(name, value);
    }
  }
  for (const key of Object.keys(env)) {
    const match = /^VSTS_AGENT_INPUT_(\w+)$/i.exec(key);
    if (match && SECRETS.includes(match[1].toLowerCase())) delete env[key];
  }
  return args;
}

export interface AgentSettings {
  agentId: number;
  agentName: string;
  poolId: number;
  poolName: string;
  serverUrl: string;
  workFolder: string;
  disableLogUploads?: boolean;
}

export interface OAuthData {
  scheme: 'OAuth';
  data: { clientId: string; authorizationUrl: string; oauthEndpointUrl: string };
}

export const files = (root: string) => ({
  agent: join(root, '.agent'),
  credentials: join(root, '.credentials'),
  rsa: join(root, '.credentials_rsaparams'),
});

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

export function writeSecretJson(path: string, value: unknown): void {
  writeFileSync(path, JSON.stringify(value, null, 2), { mode: 0o600 });
}

/** The RSA key in the RSAParameters layout the real agent stores (base64 fields). */
interface RsaParameters {
  d: string; dp: string; dq: string; exponent: string; inverseQ: string; modulus: string; p: string; q: string;
}

const b64 = (base64url: string | undefined) => Buffer.from(base64url ?? '', 'base64url').toString('base64');
const b64url = (base64: string) => Buffer.from(base64, 'base64').toString('base64url');

/** Reuses the stored RSA key, or makes a 2048-bit one (e = 65537) and stores it with mode 600. */
export function loadOrCreateKey(root: string): KeyObject {
  const path = files(root).rsa;
  if (existsSync(path)) {
    const p = readJson<RsaParameters>(path);
    return createPrivateKey({
      key: { kty: 'RSA', n: b64url(p.modulus), e: b64url(p.exponent), d: b64url(p.d), p: b64url(p.p), q: b64url(p.q), dp: b64url(p.dp), dq: b64url(p.dq), qi: b64url(p.inverseQ) },
      format: 'jwk',
    });
  }
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 65537 });
  const jwk = privateKey.export({ format: 'jwk' });
  writeSecretJson(path, { d: b64(jwk.d), dp: b64(jwk.dp), dq: b64(jwk.dq), exponent: b64(jwk.e), inverseQ: b64(jwk.qi), modulus: b64(jwk.n), p: b64(jwk.p), q: b64(jwk.q) });
  return privateKey;
}

/** The public half as the registration body carries it. */
export function publicKeyOf(key: KeyObject): { exponent: string; modulus: string } {
  const jwk = key.export({ format: 'jwk' });
  return { exponent: b64(jwk.e), modulus: b64(jwk.n) };
}

export function removeLocalConfiguration(root: string): void {
  for (const path of Object.values(files(root))) rmSync(path, { force: true });
}
