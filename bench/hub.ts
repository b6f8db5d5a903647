// Page load to rendered slot table of the BUILT hub in Chromium, against the emulator, for pools of 10 and 500 agents.
import { join } from 'node:path';
import { buildHub } from '../scripts/build.mjs';
import { launchChromium } from '../tests/support/browser.js';
import { startEmulator } from '../tests/support/emulator.js';
import { issueUserToken, seedRunnerPool, type SlotPlan } from '../tests/support/hub-fixture.js';
import { startHubHost } from '../tests/support/hub-host.js';
import { repoRoot } from '../tests/support/task-manifests.js';

const hubDir = join(repoRoot, 'dist', 'extension', 'hub');
const runs = 3;
await buildHub(hubDir);
const chromium = await launchChromium();
try {
  for (const agents of [10, 500]) {
    const emulator = await startEmulator({ sessionExpiryMs: 30 * 60_000 });
    const host = await startHubHost(hubDir, emulator.url);
    try {
      const states: SlotPlan['state'][] = ['idle', 'busy', 'offline', 'disabled'];
      await seedRunnerPool(emulator, { poolName: 'Bench', runnerName: 'bench', queued: 3, slots: Array.from({ length: agents }, (_, i) => ({ state: states[i % states.length] })) });
      const token = issueUserToken(emulator, ['vso.agentpools', 'vso.extension.data']);
      const times: number[] = [];
      for (let run = 0; run < runs; run++) {
        const page = await chromium.context.newPage();
        const started = performance.now();
        await page.goto(host.pageUrl({ token }));
        // Rendered = the first slot row and the pool's counters are on screen.
        await page.frameLocator('#hub').locator('.slot-pod', { hasText: /^bench-0$/ }).waitFor({ timeout: 30_000 });
        times.push(performance.now() - started);
        await page.close();
      }
      // The median of a few loads; the first warms Chromium's caches like a returning user.
      console.log(`hub-render-ms ${agents}: ${Math.round(times.sort((a, b) => a - b)[Math.floor(runs / 2)])}`);
    } finally {
      await host.stop();
      await emulator.stop();
    }
  }
} finally {
  await chromium.close();
}
