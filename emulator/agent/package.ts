// Builds the agent double's tarball laid out like the real agent package (cached by content under ADR_CACHE_DIR).
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { AgentPackage } from '../src/routes/distributedtask.js';
import { AGENT_VERSION } from './settings.js';

const SOURCE_DIR = new URL('.', import.meta.url).pathname;
const PLATFORM = 'linux-x64';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : [join(dir, entry.name)]).sort();
}

/** Hash of everything that ends up in the package: the double's sources and the Node binary it ships. */
function contentKey(node: string): string {
  const hash = createHash('sha256');
  for (const file of sourceFiles(SOURCE_DIR)) hash.update(file.slice(SOURCE_DIR.length)).update(readFileSync(file));
  hash.update(process.version).update(node);
  return hash.digest('hex').slice(0, 16);
}

/** Returns the cached package for the current sources, building it first when missing. */
export async function buildAgentPackage(cacheRoot = process.env.ADR_CACHE_DIR ?? '/var/cache/adr'): Promise<AgentPackage> {
  const node = process.execPath;
  const filename = `vsts-agent-${PLATFORM}-${AGENT_VERSION}.tar.gz`;
  const dir = join(cacheRoot, 'agent-double', contentKey(node));
  const path = join(dir, filename);
  const shaFile = `${path}.sha256`;
  if (!existsSync(path) || !existsSync(shaFile)) {
    const staging = mkdtempSync(join(tmpdir(), 'agent-double-'));
    try {
      const layout = join(staging, 'layout');
      cpSync(join(SOURCE_DIR, 'layout'), layout, { recursive: true });
      await build({
        entryPoints: [join(SOURCE_DIR, 'main.ts')], bundle: true, platform: 'node', target: 'node20', format: 'cjs',
        outfile: join(layout, 'bin', 'agent.js'), logLevel: 'warning', legalComments: 'none',
      });
      mkdirSync(join(layout, 'externals', 'node', 'bin'), { recursive: true });
      copyFileSync(node, join(layout, 'externals', 'node', 'bin', 'node'));
      chmodSync(join(layout, 'externals', 'node', 'bin', 'node'), 0o755);
      const archive = join(staging, filename);
      execFileSync('tar', ['-czf', archive, '--owner=0', '--group=0', '-C', layout, '.']);
      const sha256 = createHash('sha256').update(readFileSync(archive)).digest('hex');
      mkdirSync(dir, { recursive: true });
      renameSync(archive, path);
      writeFileSync(shaFile, sha256);
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  return { path, filename, version: AGENT_VERSION, sha256: readFileSync(shaFile, 'utf8').trim(), platform: PLATFORM };
}
