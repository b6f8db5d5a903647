// The RunnerHandshake port over HTTP: the autoscaler reads a runner pod's sealed registration request from its IP,
// opens it with its X25519 key and posts back the grant signed with its Ed25519 key (src/core/handshake-trust.ts).
// Plain HTTP inside the cluster: what travels is useless to anyone else. Every call has a whole-call deadline and a
// size limit, so a slow or chatty peer costs a pass at most a few seconds.
import { createDecipheriv, createPublicKey, diffieHellman, hkdfSync, sign, type KeyObject } from 'node:crypto';
import { request } from 'node:http';
import { handshakePort, type RegistrationGrant, type RegistrationRequest } from '../core/registration.js';
import { grantStatement, handshakeBodyLimit, sealContext, sealedRequestProblem, type SealedRequest, type SignedGrant } from '../core/handshake-trust.js';
import type { RunnerHandshake } from '../core/ports/handshake.js';

const path = '/v1/registration';

interface CallOptions {
  port: number;
  /** The most a call may take, connection to last byte. */
  deadlineMs: number;
}

function call(ip: string, method: 'GET' | 'POST', options: CallOptions, body?: string): Promise<{ status: number; text: string } | undefined> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (done: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      done();
    };
    const fail = (error: Error) => {
      settle(() => reject(error));
      req.destroy();
    };
    const req = request({ host: ip, port: options.port, path, method, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > handshakeBodyLimit) fail(new Error(`the pod at ${ip} answered more than ${handshakeBodyLimit} bytes`));
        else chunks.push(chunk);
      });
      res.on('end', () => settle(() => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') })));
      res.on('error', fail);
    });
    const deadline = setTimeout(() => fail(new Error(`no whole answer from ${ip}:${options.port} within ${options.deadlineMs / 1000} s`)), options.deadlineMs);
    req.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNREFUSED' ? settle(() => resolve(undefined)) : fail(error)));
    req.end(body);
  });
}

/** The request inside a sealed one, or an error when it was not sealed to `key` (or was altered on the way). */
export function openRequest(sealed: SealedRequest, key: KeyObject): RegistrationRequest {
  const sender = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: sealed.key }, format: 'jwk' });
  const recipient = createPublicKey(key).export({ format: 'jwk' }).x!;
  const { salt, info } = sealContext(sealed.key, recipient);
  const data = Buffer.from(sealed.data, 'base64url');
  const decipher = createDecipheriv('aes-256-gcm', Buffer.from(hkdfSync('sha256', diffieHellman({ privateKey: key, publicKey: sender }), salt, info, 32)), Buffer.from(sealed.iv, 'base64url'));
  decipher.setAuthTag(data.subarray(data.length - 16));
  return JSON.parse(Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]).toString('utf8')) as RegistrationRequest;
}

/** The handshake with the autoscaler's private keys; `port` and `deadlineMs` differ only in tests. */
export function httpRunnerHandshake(keys: { signing: KeyObject; encryption: KeyObject }, options: Partial<CallOptions> = {}): RunnerHandshake {
  const callOptions: CallOptions = { port: handshakePort, deadlineMs: 3000, ...options };
  return {
    async request(ip) {
      const answer = await call(ip, 'GET', callOptions);
      if (answer === undefined || answer.status === 404) return undefined;
      if (answer.status !== 200) throw new Error(`the pod at ${ip} answered ${answer.status} to its registration request`);
      let sealed: unknown;
      try {
        sealed = JSON.parse(answer.text);
      } catch {
        throw new Error(`the pod at ${ip} serves no JSON as its registration request`);
      }
      const problem = sealedRequestProblem(sealed);
      if (problem !== undefined) throw new Error(`the pod at ${ip} serves no sealed registration request: ${problem}`);
      try {
        return openRequest(sealed as SealedRequest, keys.encryption);
      } catch {
        throw new Error(`the registration request of the pod at ${ip} is not sealed to this autoscaler's key`);
      }
    },
    async grant(ip, grant: RegistrationGrant, opened: RegistrationRequest) {
      const signed: SignedGrant = { grant, signature: sign(null, Buffer.from(grantStatement(grant, opened), 'utf8'), keys.signing).toString('base64url') };
      const answer = await call(ip, 'POST', callOptions, JSON.stringify(signed));
      if (answer === undefined || answer.status !== 204) throw new Error(`the pod at ${ip} did not take its registration (${answer?.status ?? 'no answer'}: ${answer?.text.slice(0, 200) ?? ''})`);
    },
  };
}
