// Page load to rendered slot table, and to the queued-jobs counter filled, of the BUILT hub in Chromium, against the
// emulator, for pools of 10 and 500 agents.
import { join } from 'node:path';
import { buildHub } from '../scripts/build.mjs';
import { launchChromium } from '../tests/support/browser.js';
import { startEmulator } from '../tests/support/emulator.js';
import { issueUserToken, seedRunnerPool, type SlotPlan } from '../tests/support/hub-fixture.js';
import { startHubHost } from '../trial/hub-host.js';
import { repoRoot } from '../tests/support/task-manifests.js';
import { median } from '../src/core/statistics.js';

const hubDir = join(repoRoot, 'dist', 'extension', 'hub');
const runs = 3;

/**
 * Runs in every frame: notes on the browser's clock when the first slot row and the filled queued counter enter the DOM.
 * The emulator shares this process, so while it serializes a large answer Playwright's own polling would see them late.
 * A string, as tsx would wrap a function's inner functions in helpers the page lacks.
 */
const recordMarks = `
  const marks = window.benchMarks = {};
  const shows = (selector, text) => [...document.querySelectorAll(selector)].some((element) => element.textContent === text);
  new MutationObserver(() => {
    const now = performance.timeOrigin + performance.now();
    if (marks.rendered === undefined && shows('.slot-pod', 'bench-0')) marks.rendered = now;
    if (marks.queued === undefined && shows('[data-counter="queued"] .pool-counter-value', '3')) marks.queued = now;
  }).observe(document, { subtree: true, childList: true, characterData: true });
`;
await buildHub(hubDir);
const chromium = await launchChromium();
try {
  for (const agents of [10, 500]) {
    const emulator = await startEmulator({ sessionExpiryMs: 30 * 60_000 });
    const host = await startHubHost(hubDir, emulator.orgUrl);
    try {
      const states: SlotPlan['state'][] = ['idle', 'busy', 'offline', 'disabled'];
      await seedRunnerPool(emulator, { poolName: 'Bench', runnerName: 'bench', queued: 3, slots: Array.from({ length: agents }, (_, i) => ({ state: states[i % states.length] })) });
      const token = await issueUserToken(emulator, ['vso.agentpools', 'vso.extension.data']);
      const times: number[] = [];
      const queueTimes: number[] = [];
      for (let run = 0; run < runs; run++) {
        const page = await chromium.context.newPage();
        await page.addInitScript({ content: recordMarks });
        await page.goto(host.pageUrl({ token }));
        const hub = page.frameLocator('#hub');
        // Rendered = the first slot row and the pool's counters are on screen; the queue (every unfinished job lists all
        // agents that could take it) arrives last.
        await hub.locator('.slot-pod', { hasText: /^bench-0$/ }).waitFor({ timeout: 30_000 });
        await hub.locator('[data-counter="queued"] .pool-counter-value', { hasText: /^3$/ }).waitFor({ timeout: 30_000 });
        // From the navigation's start in the host page.
        const started = await page.evaluate(() => performance.timeOrigin);
        const frame = page.frames().find((candidate) => candidate !== page.mainFrame())!;
        const marks = await frame.evaluate(() => (window as unknown as { benchMarks: { rendered: number; queued: number } }).benchMarks);
        times.push(marks.rendered - started);
        queueTimes.push(marks.queued - started);
        await page.close();
      }
      // The median of a few loads; the first warms Chromium's caches like a returning user.
      console.log(`hub-render-ms ${agents}: ${Math.round(median(times))}`);
      console.log(`hub-queue-ms ${agents}: ${Math.round(median(queueTimes))}`);
    } finally {
      await host.stop();
      await emulator.stop();
    }
  }
} finally {
  await chromium.close();
}
