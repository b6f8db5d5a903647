#!/usr/bin/env node
// `azure-devops-runner` from a clone (package.json "bin": `npx azure-devops-runner`, or on PATH after `npm link`): runs
// the bundled command line that `npm run build` writes. The release asset dist/azure-devops-runner-<version>-cli.cjs
// is the same file, to run with `node` anywhere.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const bundle = fileURLToPath(new URL('../dist/cli/azure-devops-runner.cjs', import.meta.url));
if (!existsSync(bundle)) {
  console.error(`azure-devops-runner: ${bundle} is not built yet: run npm run build first.`);
  process.exit(1);
}
createRequire(import.meta.url)(bundle);
