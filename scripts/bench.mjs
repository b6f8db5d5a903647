#!/usr/bin/env node
// Runs benchmarks: `npm run bench -- <name>...` runs bench/<name>.ts (all of bench/ without a name); each prints `figure: value` lines.
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const names = process.argv.slice(2);
const wanted = names.length > 0 ? names : readdirSync('bench').filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3));
let status = 0;
for (const name of wanted) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', `bench/${name}.ts`], { stdio: 'inherit' });
  status ||= result.status ?? 1;
}
process.exit(status);
