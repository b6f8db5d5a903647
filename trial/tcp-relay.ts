// A TCP relay: the local trial's way to give a browser the emulator on loopback (it listens where pods reach it), and
// the e2e suites' way to put a real network outage between a task and a real server (cut, restore).
import { connect, createServer, type Socket } from 'node:net';

export interface TcpRelay {
  /** The port it listens on. */
  port: number;
  /** Drops every open connection and resets new ones until `restore`. */
  cut(): void;
  restore(): void;
  stop(): Promise<void>;
}

/** Relays connections to `target`; it listens on `listen` (default: a free loopback port). */
export async function startTcpRelay(target: { host: string; port: number }, listen: { host?: string; port?: number } = {}): Promise<TcpRelay> {
  const open = new Set<Socket>();
  let cut = false;
  const server = createServer((client) => {
    if (cut) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    for (const [socket, other] of [[client, upstream], [upstream, client]] as const) {
      open.add(socket);
      socket.on('close', () => open.delete(socket));
      socket.on('error', () => other.destroy());
      socket.pipe(other);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port ?? 0, listen.host ?? '127.0.0.1', resolve);
  });
  return {
    port: (server.address() as { port: number }).port,
    cut() {
      cut = true;
      for (const socket of open) socket.destroy();
    },
    restore() {
      cut = false;
    },
    async stop() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
