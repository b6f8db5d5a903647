// The RunnerHandshake port over HTTP: the autoscaler reads a runner pod's registration request from its IP and posts
// the grant back (src/core/registration.ts). Plain HTTP inside the cluster: nothing secret travels, the private key
// stays in the pod.
import { request } from 'node:http';
import { handshakePort, type RegistrationGrant, type RegistrationRequest } from '../core/registration.js';
import type { RunnerHandshake } from '../core/ports/handshake.js';

const path = '/v1/registration';

function call(ip: string, method: 'GET' | 'POST', body?: string): Promise<{ status: number; text: string } | undefined> {
  return new Promise((resolve, reject) => {
    const req = request({ host: ip, port: handshakePort, path, method, timeout: 3000, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${ip}:${handshakePort} within 3 s`)));
    req.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNREFUSED' ? resolve(undefined) : reject(error)));
    req.end(body);
  });
}

export const httpRunnerHandshake: RunnerHandshake = {
  async request(ip) {
    const answer = await call(ip, 'GET');
    if (answer === undefined || answer.status === 404) return undefined;
    if (answer.status !== 200) throw new Error(`the pod at ${ip} answered ${answer.status} to its registration request`);
    return JSON.parse(answer.text) as RegistrationRequest;
  },
  async grant(ip, grant: RegistrationGrant) {
    const answer = await call(ip, 'POST', JSON.stringify(grant));
    if (answer === undefined || answer.status !== 204) throw new Error(`the pod at ${ip} did not take its registration (${answer?.status ?? 'no answer'}: ${answer?.text.slice(0, 200) ?? ''})`);
  },
};
