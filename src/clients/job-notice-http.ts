// The JobNotices port over HTTP: the autoscaler's notice port, where its runner pods' supervisors POST `{ agentId }`
// the moment their agent takes a job (src/core/job-notice.ts). Anyone the network lets through may send anything, so
// it reads little (one small request per connection, a short deadline for each, two connections per address so that
// no pod can keep the others out, and a high bound on all of them) and passes on only a well-formed agent id; the loop
// decides what a notice is worth. Every well-formed notice gets the same answer, known id or not.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jobNoticeBodyLimit, jobNoticePath, jobNoticeProblem } from '../core/job-notice.js';
import type { JobNotices } from '../core/ports/job-notices.js';

export interface JobNoticeServer extends JobNotices {
  /** The port it listens on (the one asked for, or the one given for 0). */
  port: number;
  close(): Promise<void>;
}

/** The most a request may take, first byte to last: a supervisor sends its notice at once. */
const deadlineMs = 2000;
/**
 * Connections at once: a bound on sockets, not a share. Each address holds at most two, each for at most the deadline,
 * so many pods holding theirs still leave room for the one with a notice.
 */
const maxConnections = 1024;
/** Connections at once from one address (one pod): a supervisor sends one notice. */
const maxConnectionsPerAddress = 2;

/**
 * Listens on `port` (on every address; `host` in tests). `url`: the address pods are given, this port at the pod's IP
 * (`(port) => url` for a port chosen at listen time).
 */
export function startJobNoticeServer(port: number, url: (port: number) => string, host?: string): Promise<JobNoticeServer> {
  const listeners = new Set<(agentId: number, from: string) => void>();
  // Node's request deadlines cut a peer that trickles a body, but not one that sends nothing or never ends its headers:
  // every connection is also destroyed at the deadline from its start, whatever it sent.
  const server: Server = createServer({ headersTimeout: deadlineMs, requestTimeout: deadlineMs, keepAliveTimeout: 0, connectionsCheckingInterval: 500 }, (req, res) => {
    const answer = (status: number) => void res.writeHead(status, { 'content-type': 'text/plain', connection: 'close' }).end();
    if (req.url !== jobNoticePath) return answer(404);
    if (req.method !== 'POST') return answer(405);
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > jobNoticeBodyLimit) {
        answer(413);
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return answer(400);
      }
      if (jobNoticeProblem(body) !== undefined) return answer(400);
      // A dual-stack socket gives an IPv4 peer as ::ffff:a.b.c.d; a pod's IP is a.b.c.d.
      const from = (req.socket.remoteAddress ?? '').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
      for (const onNotice of listeners) onNotice((body as { agentId: number }).agentId, from);
      answer(202);
    });
    req.on('error', () => {});
  });
  server.maxConnections = maxConnections;
  // One notice per connection: requests pipelined after it are not read.
  server.maxRequestsPerSocket = 1;
  server.on('dropRequest', (_req, socket) => socket.destroy());
  const open = new Map<string, number>();
  server.on('connection', (socket) => {
    const address = socket.remoteAddress ?? '';
    const count = (open.get(address) ?? 0) + 1;
    if (count > maxConnectionsPerAddress) return void socket.destroy();
    open.set(address, count);
    const deadline = setTimeout(() => socket.destroy(), deadlineMs);
    socket.once('close', () => {
      clearTimeout(deadline);
      const left = open.get(address)! - 1;
      if (left === 0) open.delete(address);
      else open.set(address, left);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const { port: bound } = server.address() as AddressInfo;
      resolve({
        port: bound,
        url: url(bound),
        listen(onNotice) {
          listeners.add(onNotice);
          return () => listeners.delete(onNotice);
        },
        close: () => new Promise<void>((done) => {
          server.closeAllConnections();
          server.close(() => done());
        }),
      });
    });
  });
}
