// Test support: Debian's docker-registry (distribution) on loopback with basic auth, in its own temporary storage.
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from './process.js';

export interface TestRegistry {
  /** host:port, e.g. 127.0.0.1:5055 */
  address: string;
  username: string;
  password: string;
  /** The tags of a repository (name without the registry); [] when it does not exist. */
  tags(name: string): Promise<string[]>;
  /** The manifest digest the registry serves for name:reference (Docker-Content-Digest). */
  manifestDigest(name: string, reference: string): Promise<string>;
  stop(): Promise<void>;
}

// Everything an image push may produce: single-platform manifests and indexes, Docker's and OCI's.
const manifestTypes = [
  'application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

/** A bcrypt htpasswd line (the only hash distribution accepts), from glibc's crypt(3) through perl: no extra package. */
async function htpasswdLine(username: string, password: string): Promise<string> {
  const alphabet = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  // 22 salt characters; the last one carries only 2 bits, so it is one of . O e u.
  const salt = [...randomBytes(21)].map((b) => alphabet[b % 64]).join('') + '.Oeu'[randomBytes(1)[0] % 4];
  const result = await run('perl', ['-e', 'print crypt($ENV{PW}, $ENV{SALT})'], { env: { ...process.env, PW: password, SALT: `$2b$05$${salt}` } });
  if (result.code !== 0 || !result.stdout.startsWith('$2b$')) throw new Error(`bcrypt through perl failed: ${result.stderr}${result.stdout}`);
  return `${username}:${result.stdout}\n`;
}

/**
 * Starts docker-registry on <host>:<port> (loopback unless told: pods reach the node's own address) requiring
 * username/password; stop() ends it and deletes its storage.
 */
export async function startRegistry(port: number, username = 'ci', password = `pw-${randomBytes(12).toString('hex')}`, host = '127.0.0.1'): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'adr-registry-'));
  const address = `${host}:${port}`;
  writeFileSync(join(dir, 'htpasswd'), await htpasswdLine(username, password));
  writeFileSync(join(dir, 'config.yml'), [
    'version: 0.1',
    'log: { level: warn }',
    `storage: { filesystem: { rootdirectory: ${join(dir, 'data')} }, delete: { enabled: true } }`,
    `http: { addr: "${address}" }`,
    `auth: { htpasswd: { realm: adr-test, path: ${join(dir, 'htpasswd')} } }`,
  ].join('\n') + '\n');
  const log = openSync(join(dir, 'registry.log'), 'a');
  const daemon = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', log, log] });
  closeSync(log);
  let exited = false;
  daemon.on('exit', () => (exited = true));
  const authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  const get = (path: string, method = 'GET') => fetch(`http://${address}${path}`, { method, headers: { Authorization: authorization, Accept: manifestTypes } });

  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited) throw new Error(`docker-registry exited at start: ${readFileSync(join(dir, 'registry.log'), 'utf8')}`);
    const ready = await get('/v2/').then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) throw new Error(`docker-registry did not answer on ${address} within 20 s`);
    await sleep(100);
  }
  return {
    address, username, password,
    async tags(name) {
      const response = await get(`/v2/${name}/tags/list`);
      if (response.status === 404) return [];
      if (!response.ok) throw new Error(`tags of ${name}: HTTP ${response.status}`);
      return ((await response.json()) as { tags: string[] | null }).tags ?? [];
    },
    async manifestDigest(name, reference) {
      const response = await get(`/v2/${name}/manifests/${reference}`, 'HEAD');
      const digest = response.headers.get('docker-content-digest');
      if (!response.ok || !digest) throw new Error(`manifest ${name}:${reference}: HTTP ${response.status}`);
      return digest;
    },
    async stop() {
      if (!exited) {
        daemon.kill('SIGTERM');
        while (!exited) await sleep(50);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
