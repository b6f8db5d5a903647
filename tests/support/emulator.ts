// Starts the Azure DevOps emulator in-process for tests, with its typed client for the /_admin test controls.
import { startEmulatorServer, type EmulatorOptions, type RunningEmulator } from '../../emulator/src/server.js';
import { AdminClient } from '../../emulator/src/admin-client.js';
import type { AdminJob } from '../../emulator/src/routes/admin.js';
import type { ServedRequest } from '../../emulator/src/types.js';

export type { AdminJob, EmulatorOptions, ServedRequest };
export { AdminClient, type FaultSpec } from '../../emulator/src/admin-client.js';
export { DEFAULT_PAT } from '../../emulator/src/server.js';

export interface TestEmulator extends RunningEmulator {
  admin: AdminClient;
}

/** Starts the emulator on a free loopback port; call stop() in an after/finally hook. */
export async function startEmulator(options: EmulatorOptions = {}): Promise<TestEmulator> {
  const running = await startEmulatorServer({ port: 0, host: '127.0.0.1', ...options });
  return { ...running, admin: new AdminClient(running.url) };
}
