// Puts the recording `docker` stand-in (docker-standin-cli.ts) in a directory, for a test to prepend to the double's PATH.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

/** Writes `<bin>/docker`: the stand-in bundled into one script, run by this Node. */
export async function writeDockerStandIn(bin: string): Promise<void> {
  mkdirSync(bin, { recursive: true });
  await build({ entryPoints: [new URL('docker-standin-cli.ts', import.meta.url).pathname], bundle: true, platform: 'node', format: 'cjs', outfile: join(bin, 'docker.cjs'), logLevel: 'warning' });
  writeFileSync(join(bin, 'docker'), `#!/bin/sh\nexec "${process.execPath}" "${join(bin, 'docker.cjs')}" "$@"\n`);
  chmodSync(join(bin, 'docker'), 0o755);
}
