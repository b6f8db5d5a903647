// Renders the hub's components in Node: a jsdom window as the global scope, and the components bundled by esbuild the
// way the hub's build does (azure-devops-ui ships ES modules that import CSS, which Node cannot load by itself).
import { build } from 'esbuild';
import { JSDOM } from 'jsdom';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from './task-manifests.js';

export type Harness = typeof import('./hub-harness.js');

let loaded: Promise<Harness> | undefined;
let dom: JSDOM | undefined;

function installDom(): void {
  dom = new JSDOM('<!DOCTYPE html><html><body></body></html>', { pretendToBeVisual: true, url: 'http://127.0.0.1/' });
  const window = dom.window as unknown as Record<string, unknown>;
  const scope = globalThis as unknown as Record<string, unknown>;
  for (const key of Object.getOwnPropertyNames(window)) {
    if (key in scope) continue;
    scope[key] = window[key];
  }
  scope.window = dom.window;
  // React's scheduler prefers a MessageChannel, and Node's keeps the process alive; without one it uses timers.
  delete scope.MessageChannel;
  // azure-devops-ui measures elements and watches them scroll into view; jsdom has neither.
  class NoIntersection {
    observe(): void {}
    unobserve(): void {}
    disconnect(): void {}
    takeRecords(): [] { return []; }
  }
  (dom.window as unknown as Record<string, unknown>).IntersectionObserver = NoIntersection;
  scope.IntersectionObserver = NoIntersection;
}

/** Closes the jsdom window (its animation-frame timer would keep the test process alive). */
export function closeDom(): void {
  dom?.window.close();
}

/** The bundled components, loaded once per test process into a jsdom global scope. */
export function loadHub(): Promise<Harness> {
  loaded ??= (async () => {
    installDom();
    const outdir = join(repoRoot, '.tmp', 'hub-harness');
    mkdirSync(outdir, { recursive: true });
    const outfile = join(outdir, `harness-${process.pid}.mjs`);
    await build({
      entryPoints: [join(repoRoot, 'tests', 'support', 'hub-harness.tsx')],
      outfile,
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      define: { 'process.env.NODE_ENV': '"production"' },
      loader: { '.css': 'empty', '.woff': 'empty', '.woff2': 'empty' },
      logLevel: 'warning',
    });
    return (await import(pathToFileURL(outfile).href)) as Harness;
  })();
  return loaded;
}

/** Polls `check` until it returns without throwing (React renders after promises settle). */
export async function eventually<T>(check: () => T, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}
