// The BUILT hub in Debian's Chromium, framed by an emulated Azure DevOps host, reading the emulator: what a user sees in
// every agent state, both themes, a large pool rendered a window at a time, and the failure paths (missing permission,
// server down, a pool of zero slots). As in production, the page and the organisation are on different origins, and the
// emulator answers in the formats the hub's client asks for (bare arrays, numeric enums, MS JSON dates): the hub has no
// other branch, so every agent state below is read from those formats.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FrameLocator, Page } from 'playwright-core';
import { buildHub } from '../../scripts/build.mjs';
import { launchChromium, type TestBrowser } from '../support/browser.js';
import { startEmulator, type TestEmulator } from '../support/emulator.js';
import { issueUserToken, seedRunnerPool } from '../support/hub-fixture.js';
import { darkTheme, startHubHost, type HubHost } from '../../trial/hub-host.js';
import { repoRoot } from '../support/task-manifests.js';

const hubDir = join(repoRoot, 'dist', 'extension', 'hub');
// The README's screenshots come from this test: `UPDATE_SCREENSHOTS=1` writes them into docs/, otherwise a temp folder.
const screenshots = process.env.UPDATE_SCREENSHOTS === '1' ? join(repoRoot, 'docs') : mkdtempSync(join(tmpdir(), 'adr-hub-shots-'));
const readScopes = ['vso.agentpools', 'vso.extension.data'];

describe('Runner pools hub in Chromium', () => {
  let emulator: TestEmulator;
  let host: HubHost;
  let chromium: TestBrowser;

  before(async () => {
    await buildHub(hubDir);
    emulator = await startEmulator({ sessionExpiryMs: 30 * 60_000 });
    host = await startHubHost(hubDir, emulator.orgUrl);
    chromium = await launchChromium();
  });
  after(async () => {
    await chromium?.close();
    await host?.stop();
    await emulator?.stop();
  });

  async function open(token: string, theme?: Record<string, string>): Promise<{ page: Page; hub: FrameLocator }> {
    const page = await chromium.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(host.pageUrl({ token, theme }));
    const hub = page.frameLocator('#hub');
    // Whatever the page ends up showing, it tells the host it loaded.
    await page.waitForFunction(() => (window as unknown as { hubLoaded?: string }).hubLoaded !== undefined, undefined, { timeout: 20_000 });
    assert.deepEqual(errors, []);
    return { page, hub };
  }

  const slotRow = (hub: FrameLocator, pod: string) => hub.locator('.bolt-table-row', { has: hub.locator('.slot-pod', { hasText: new RegExp(`^${pod}$`) }) });
  const counterValue = (hub: FrameLocator, pool: string, key: string) => hub.locator(`[data-pool="${pool}"] [data-counter="${key}"] .pool-counter-value`);
  const counter = (hub: FrameLocator, pool: string, key: string) => counterValue(hub, pool, key).innerText();
  /** The queue arrives after the slots: waits until its counter shows a count. */
  const queueCount = async (hub: FrameLocator, pool: string) => {
    await counterValue(hub, pool, 'queued').filter({ hasText: /^\d+$/ }).waitFor({ timeout: 10_000 });
    return counter(hub, pool, 'queued');
  };

  it('shows every slot of the pool with its agent, job, pod and counters, in light and dark themes', async () => {
    await seedRunnerPool(emulator, {
      poolName: 'Linux Private', runnerName: 'linux', queued: 2,
      slots: [{ state: 'idle' }, { state: 'busy' }, { state: 'offline' }, { state: 'disabled' }, { state: 'podOnly' }],
    });
    await emulator.admin.clearRequests();
    const { page, hub } = await open(await issueUserToken(emulator, readScopes));
    const pool = 'azure-pipelines.linux';
    await hub.locator('.slot-pod').first().waitFor();
    // Every call crossed origins: the browser asked before each kind of call.
    assert.notEqual(new URL(host.origin).origin, new URL(emulator.orgUrl).origin);
    const preflights = (await emulator.admin.requests()).filter((request) => request.method === 'OPTIONS' && request.status === 200).map((request) => request.path);
    for (const path of [/\/distributedtask\/pools$/, /\/agents$/, /\/Documents$/]) assert.ok(preflights.some((served) => path.test(served)), `a preflight for ${path}: ${preflights.join(', ')}`);
    assert.deepEqual(await hub.locator(`[data-pool="${pool}"] .slot-pod`).allInnerTexts(), ['linux-0', 'linux-1', 'linux-2', 'linux-3', 'linux-4']);
    assert.deepEqual(await hub.locator(`[data-pool="${pool}"] .slot-state-label`).allInnerTexts(),
      ['Idle', 'Busy', 'Offline', 'Disabled', 'Pod starting']);

    const busy = slotRow(hub, 'linux-1');
    const job = busy.locator('a.slot-job');
    assert.match(await job.innerText(), /^CI · \d{8}\.2$/);
    assert.equal(await job.getAttribute('href'), `${emulator.orgUrl}/${(await emulator.admin.job(2)).projectId}/_build/results?buildId=2`);
    assert.match(await busy.locator('.slot-last').innerText(), /CI · \d{8}\.1/);
    assert.match(await busy.innerText(), /Failed · \d+ s ago/);
    assert.match(await slotRow(hub, 'linux-2').innerText(), /Running · not ready\s+2 restarts/);
    assert.match(await slotRow(hub, 'linux-4').innerText(), /ContainerCreating[\s\S]*Pending · not ready/);
    assert.match(await slotRow(hub, 'linux-0').innerText(), /node-0[\s\S]*registry\.example\/runner/);

    assert.equal(await queueCount(hub, pool), '2');
    assert.equal(await hub.locator(`[data-pool="${pool}"] [data-counter="queued"] .pool-counter-label`).innerText(), 'Queued jobs · this runner counts 2');
    assert.match(await hub.locator(`[data-pool="${pool}"] .pool-counted`).innerText(),
      /^Waiting jobs this runner counts: emulated · Waiting 1 \(#\d+\), emulated · Waiting 2 \(#\d+\)\.$/);
    assert.deepEqual(await Promise.all(['online', 'busy', 'idle', 'offline', 'disabled'].map((key) => counter(hub, pool, key))),
      ['3', '1', '1', '1', '1']);
    assert.match(await hub.locator(`[data-pool="${pool}"] .pool-snapshot`).innerText(), /Pod data from 3 min ago \(ScaleRunnerPool\)/);

    // Filtering narrows the rows to what matches.
    await hub.locator('.hub-filter input').fill('disabled');
    assert.deepEqual(await hub.locator(`[data-pool="${pool}"] .slot-pod`).allInnerTexts(), ['linux-3']);
    await hub.locator('.hub-filter input').fill('');

    const background = () => hub.locator('body').evaluate((body) => getComputedStyle(body).backgroundColor);
    const light = await background();
    await page.evaluate((theme) => (window as unknown as { setHubTheme(t: Record<string, string>): Promise<void> }).setHubTheme(theme), darkTheme);
    assert.equal(await background(), 'rgb(32, 31, 30)');
    assert.notEqual(light, 'rgb(32, 31, 30)');
    await page.screenshot({ path: join(screenshots, 'hub-dark.png') });
    await page.evaluate(() => (window as unknown as { setHubTheme(t: Record<string, string>): Promise<void> }).setHubTheme({}));
    assert.equal(await background(), light);
    await page.screenshot({ path: join(screenshots, 'hub.png') });
    await page.close();
  });

  it('shows the slots while the job requests are still on their way, then fills the queued counter', async () => {
    const pool = 'azure-pipelines.linux';
    // The job requests are held until the faults are cleared: the rows must come first, however long the page takes.
    await emulator.admin.addFault({ path: 'jobrequests', kind: 'latency', delayMs: 120_000 });
    try {
      const { page, hub } = await open(await issueUserToken(emulator, readScopes));
      await slotRow(hub, 'linux-4').waitFor();
      assert.equal(await counter(hub, pool, 'queued'), '…');
      assert.equal(await counter(hub, pool, 'online'), '3');
      await emulator.admin.clearFaults();
      assert.equal(await queueCount(hub, pool), '2');
      await page.close();
    } finally {
      await emulator.admin.clearFaults();
    }
  });

  it('shows a failed queue read in the queued counter, and the slots as usual', async () => {
    const pool = 'azure-pipelines.linux';
    await emulator.admin.addFault({ path: 'jobrequests', kind: 'error', status: 500 });
    try {
      const { page, hub } = await open(await issueUserToken(emulator, readScopes));
      await counterValue(hub, pool, 'queued').filter({ hasText: '!' }).waitFor({ timeout: 10_000 });
      assert.match(await hub.locator(`[data-pool="${pool}"] [data-counter="queued"]`).innerText(), /Not loaded: Azure DevOps answered HTTP 500/);
      assert.equal(await hub.locator('.hub-error').count(), 0);
      assert.equal(await slotRow(hub, 'linux-1').locator('.slot-state-label').innerText(), 'Busy');
      await page.close();
    } finally {
      await emulator.admin.clearFaults();
    }
  });

  it('follows the pool live: a refresh shows an agent that went offline', async () => {
    const { page, hub } = await open(await issueUserToken(emulator, readScopes));
    await slotRow(hub, 'linux-0').waitFor();
    const agent = (await emulator.admin.agents('Linux Private')).find((a) => a.name === 'linux-0')!;
    await emulator.admin.endSession(agent.id as number);
    await hub.getByText('Refresh', { exact: true }).click();
    await hub.locator('.bolt-table-row', { hasText: 'linux-0' }).locator('.slot-state-label', { hasText: 'Offline' }).waitFor({ timeout: 10_000 });
    await page.close();
  });

  it('shows a pool scaled to zero slots with its queue and what brings pods back', async () => {
    await seedRunnerPool(emulator, { poolName: 'Windows Private', runnerName: 'win', slots: [] });
    const { page, hub } = await open(await issueUserToken(emulator, readScopes));
    const pool = hub.locator('[data-pool="azure-pipelines.win"]');
    await pool.waitFor();
    assert.match(await pool.locator('.pool-empty').innerText(), /no slots.*0 replicas/);
    assert.equal(await counter(hub, 'azure-pipelines.win', 'online'), '0');
    await page.close();
  });

  it('renders only the rows near the viewport of a large pool; scrolling and filtering reach a far slot', async () => {
    const slots = 240;
    const states = ['idle', 'busy', 'offline', 'disabled'] as const;
    await seedRunnerPool(emulator, { poolName: 'Large Private', runnerName: 'large', slots: Array.from({ length: slots }, (_, i) => ({ state: states[i % states.length] })) });
    const { page, hub } = await open(await issueUserToken(emulator, readScopes));
    const pool = 'azure-pipelines.large';
    const pods = hub.locator(`[data-pool="${pool}"] .slot-pod`);
    await pods.first().waitFor();
    assert.equal(await counter(hub, pool, 'busy'), String(slots / 4));
    const rendered = await pods.count();
    assert.ok(rendered > 0 && rendered < slots / 2, `${rendered} of ${slots} rows in the page`);

    // The page scrolls itself; at its end the last slot is there, with its state.
    await hub.locator('.runner-pools-page').evaluate((page) => page.scrollTo({ top: page.scrollHeight }));
    const last = slotRow(hub, `large-${slots - 1}`);
    await last.waitFor();
    assert.equal(await last.locator('.slot-state-label').innerText(), 'Disabled');
    assert.ok(await pods.count() < slots / 2);

    await hub.locator('.runner-pools-page').evaluate((page) => page.scrollTo({ top: 0 }));
    await hub.locator('.hub-filter input').fill('large-137');
    assert.deepEqual(await pods.allInnerTexts(), ['large-137']);
    assert.equal(await slotRow(hub, 'large-137').locator('.slot-state-label').innerText(), 'Busy');
    await page.close();
  });

  it('shows on each runner of a shared pool the waiting jobs it counts', async () => {
    // Two autoscaled runners in one pool, their agents offline so jobs wait: plain jobs go to the runner offering
    // least, TOOLBOX jobs to the only runner that has it.
    const scaled = { RUNNER_SCALING: 'autoscaler' };
    await seedRunnerPool(emulator, { poolName: 'Shared Private', runnerName: 'small', slots: [{ state: 'offline', capabilities: scaled }] });
    await seedRunnerPool(emulator, { poolName: 'Shared Private', runnerName: 'tools', slots: [{ state: 'offline', capabilities: { ...scaled, TOOLBOX: 'yes' } }] });
    const ids: Record<string, number> = {};
    for (const [name, demands] of [['Plain 1', []], ['Toolbox 1', ['TOOLBOX']], ['Plain 2', []]] as const) {
      const job = await emulator.admin.queueJob({ pool: 'Shared Private', name, script: 'true', demands: [...demands] });
      assert.ok(!('rejected' in job), JSON.stringify(job));
      ids[name] = job.requestId;
    }
    const { page, hub } = await open(await issueUserToken(emulator, readScopes));
    const share = async (runner: string) => {
      const pool = `azure-pipelines.${runner}`;
      return [await queueCount(hub, pool), await hub.locator(`[data-pool="${pool}"] .pool-counter-share`).textContent(),
        await hub.locator(`[data-pool="${pool}"] .pool-counted`).innerText()];
    };
    assert.deepEqual(await share('small'), ['3', ' · this runner counts 2', `Waiting jobs this runner counts: emulated · Plain 1 (#${ids['Plain 1']}), emulated · Plain 2 (#${ids['Plain 2']}).`]);
    assert.deepEqual(await share('tools'), ['3', ' · this runner counts 1', `Waiting jobs this runner counts: emulated · Toolbox 1 (#${ids['Toolbox 1']}).`]);
    await page.close();
  });

  it('names the missing permission when Azure DevOps answers 403; a refused sign-in shows as a failed request', async () => {
    const noPools = await open(await issueUserToken(emulator, ['vso.extension.data']));
    const error = noPools.hub.locator('.hub-error');
    await error.waitFor();
    assert.match(await error.innerText(), /This page needs Agent Pools \(read\)[\s\S]*HTTP 403[\s\S]*vso\.agentpools/);
    await noPools.page.close();

    const noData = await open(await issueUserToken(emulator, ['vso.agentpools']));
    await noData.hub.locator('.hub-error').waitFor();
    assert.match(await noData.hub.locator('.hub-error').innerText(), /This page needs Extension Data \(read\)[\s\S]*HTTP 403/);
    await noData.page.close();

    // The service's 401 carries no CORS headers (emulator/README.md), so a cross-origin page sees a failed request.
    const expired = await open('not-a-token');
    await expired.hub.locator('.hub-error').waitFor();
    assert.match(await expired.hub.locator('.hub-error').innerText(), /Cannot reach Azure DevOps/);
    await expired.page.close();
  });

  it('says Azure DevOps cannot be reached when the server is down', async () => {
    const token = await issueUserToken(emulator, readScopes);
    await emulator.stop();
    const { page, hub } = await open(token);
    await hub.locator('.hub-error').waitFor();
    assert.match(await hub.locator('.hub-error').innerText(), /Cannot reach Azure DevOps[\s\S]*Check your network connection/);
    await page.close();
  });
});
