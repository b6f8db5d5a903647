#!/usr/bin/env node
// Runs the test suites with Node's own test runner (TypeScript through tsx).
// `npm test` runs everything; `npm test -- unit` or `npm test -- e2e` runs one suite;
// a path argument runs just those files.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const suites = { unit: ['tests/unit'], e2e: ['tests/e2e'] };

function findTests(dir) {
  let found = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) found = found.concat(findTests(path));
    else if (/\.test\.tsx?$/.test(entry)) found.push(path);
  }
  return found.sort();
}

const args = process.argv.slice(2);
const wanted = args.length === 0 ? Object.keys(suites) : args;
const files = wanted.flatMap((arg) => (suites[arg] ? suites[arg].flatMap(findTests) : [arg]));
// e2e suites share one cluster, one Docker engine and one emulator port range: run files one at a time.
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
