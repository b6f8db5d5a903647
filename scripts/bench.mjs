#!/usr/bin/env node
// Runs the benchmark bench/<name>.ts for each name given, or every benchmark; each prints `figure-name: value` lines.
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const names = process.argv.slice(2);
const all = readdirSync(new URL('../bench', import.meta.url)).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3)).sort();
let failed = false;
for (const name of names.length > 0 ? names : all) {
  if (!all.includes(name)) {
    console.error(`no benchmark '${name}'; there are: ${all.join(', ')}`);
    process.exit(2);
  }
  console.log(`# bench ${name}`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', `bench/${name}.ts`], { stdio: 'inherit' });
  failed ||= result.status !== 0;
}
process.exit(failed ? 1 : 0);
