// The Runner pools page rendered in a DOM against the in-memory service: rows, states, links, counters, filter, refresh,
// and the loading, empty and error states.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { HubAgent, HubJobRequest } from '../../../src/core/hub-model.js';
import type { PoolSnapshot } from '../../../src/core/model.js';
import type { LocalPoolData } from '../../../hub/src/services/LocalRunnerPoolService.js';
import { closeDom, eventually, loadHub, type Harness } from '../../support/hub-dom.js';

const now = new Date('2026-11-28T10:00:00Z');
const identity = (pod: string) => ({
  RUNNER_NAME: 'linux', RUNNER_NAMESPACE: 'ci', RUNNER_POD_NAME: pod, RUNNER_POD_UID: `uid-${pod}`, RUNNER_NODE_NAME: 'kind-worker', RUNNER_IMAGE: 'registry.local/runner:1',
});
const agent = (ordinal: number, overrides: Partial<HubAgent>): HubAgent => ({
  id: ordinal + 1, name: `linux-${ordinal}`, status: 'online', enabled: true, poolId: 3, poolName: 'Linux Private',
  capabilities: identity(`linux-${ordinal}`), statusChangedOn: '2026-11-28T09:50:00Z', ...overrides,
});

const waiting = (requestId: number, demands: string[] = []): HubJobRequest =>
  ({ requestId, demands, name: `CI · Waiting ${requestId}`, url: `https://dev.azure.com/contoso/p/_build/results?buildId=${requestId}` });

function fixture(): LocalPoolData {
  const snapshot: PoolSnapshot = {
    id: 'ci.linux', runnerName: 'linux', namespace: 'ci', poolName: 'Linux Private', organizationUrl: 'https://dev.azure.com/contoso',
    publishedAt: '2026-11-28T09:57:00Z', publishedBy: 'ScaleRunnerPool', replicas: 5,
    pods: [0, 1, 2, 3].map((n) => ({ name: `linux-${n}`, uid: `uid-linux-${n}`, phase: 'Running', ready: true, restarts: n === 2 ? 3 : 0, node: 'kind-worker', image: 'registry.local/runner:1', createdAt: '2026-11-28T08:00:00Z', deleting: false }))
      .concat({ name: 'linux-4', uid: 'uid-linux-4', phase: 'Pending', ready: false, restarts: 0, node: 'kind-worker', image: 'registry.local/runner:1', createdAt: '2026-11-28T09:59:00Z', deleting: false }),
    lastDecision: { previousReplicas: 4, replicas: 5, running: 5, runningRule: { beyondBusy: 3, least: 0, most: 10 }, queuedJobs: 2, busyAgents: 1, reason: '1 busy + 2 queued + 1 standby = 5 replicas.', action: 'scale_up' },
  };
  return {
    agents: [
      agent(0, {}),
      agent(1, {
        busyWith: 41,
        runningJob: { requestId: 41, name: 'CI · 20261128.4', url: 'https://dev.azure.com/contoso/p/_build/results?buildId=41', time: '2026-11-28T09:58:00Z' },
        lastJob: { requestId: 40, name: 'CI · 20261128.3', url: 'https://dev.azure.com/contoso/p/_build/results?buildId=40', time: '2026-11-28T09:40:00Z', result: 'failed' },
      }),
      agent(2, { status: 'offline' }),
      agent(3, { enabled: false }),
    ],
    jobRequestsByPool: { 'Linux Private': [waiting(42), waiting(43), { ...waiting(41), reservedAgentName: 'linux-1', assignTime: '2026-11-28T09:58:00Z' }] },
    snapshots: [snapshot],
  };
}

describe('Runner pools page', () => {
  let hub: Harness;
  let container: HTMLElement;
  before(async () => {
    hub = await loadHub();
  });
  after(() => {
    if (container) hub.ReactDOM.unmountComponentAtNode(container);
    closeDom();
  });

  function render(service: InstanceType<Harness['LocalRunnerPoolService']>, refreshMs = 0): HTMLElement {
    if (container) hub.ReactDOM.unmountComponentAtNode(container);
    container = document.createElement('div');
    document.body.replaceChildren(container);
    hub.ReactDOM.render(hub.React.createElement(hub.RunnerPoolsPage, { service, refreshMs, clock: () => now, organizationUrl: 'https://dev.azure.com/contoso' }), container);
    return container;
  }

  const rows = (root: HTMLElement) => [...root.querySelectorAll('.slot-table tr[role="row"], .slot-table .bolt-table-row')]
    .filter((row) => row.querySelector('.slot-pod'));
  const rowOf = (root: HTMLElement, pod: string) => {
    const row = rows(root).find((r) => r.querySelector('.slot-pod')?.textContent === pod);
    assert.ok(row, `a row for ${pod}`);
    return row;
  };
  const counter = (root: HTMLElement, key: string) => root.querySelector(`[data-counter="${key}"] .pool-counter-value`)?.textContent;
  const cardOf = (root: HTMLElement, key: string) => {
    const card = root.querySelector(`[data-pool="${key}"]`);
    assert.ok(card, `a card for ${key}`);
    return card;
  };
  /** Types into the filter box the way React hears it: the native value setter, then an input event. */
  const typeFilter = (root: HTMLElement, text: string) => {
    const input = root.querySelector('.hub-filter input') as HTMLInputElement;
    Object.getOwnPropertyDescriptor(window.HTMLInputElement.prototype, 'value')!.set!.call(input, text);
    input.dispatchEvent(new window.Event('input', { bubbles: true }));
  };

  it('shows a spinner while the first load is on its way', () => {
    const root = render(new hub.LocalRunnerPoolService(() => new Promise(() => {})));
    assert.match(root.textContent ?? '', /Loading runner pools/);
  });

  it('shows one row per slot in ordinal order, each with its agent state, job, pod and node', async () => {
    const root = render(new hub.LocalRunnerPoolService(fixture()));
    await eventually(() => assert.equal(rows(root).length, 5));
    assert.deepEqual(rows(root).map((r) => r.querySelector('.slot-pod')?.textContent), ['linux-0', 'linux-1', 'linux-2', 'linux-3', 'linux-4']);
    assert.deepEqual(rows(root).map((r) => r.querySelector('.slot-state-label')?.textContent),
      ['Idle', 'Busy', 'Offline', 'Disabled', 'Pod starting']);
    const busy = rowOf(root, 'linux-1');
    const link = busy.querySelector('a.slot-job') as HTMLAnchorElement;
    assert.equal(link.textContent, 'CI · 20261128.4');
    assert.equal(link.href, 'https://dev.azure.com/contoso/p/_build/results?buildId=41');
    assert.match(busy.textContent ?? '', /started 2 min ago/);
    assert.match(busy.textContent ?? '', /Failed · 20 min ago/);
    assert.match(rowOf(root, 'linux-2').textContent ?? '', /3 restarts/);
    assert.match(rowOf(root, 'linux-4').textContent ?? '', /Pending · not ready/);
    assert.match(rowOf(root, 'linux-0').textContent ?? '', /kind-worker.*registry\.local\/runner:1.*2 h/);
  });

  it('gives each line of a cell its full text on hover, where a narrow column cuts it', async () => {
    const data = fixture();
    const job = 'CI · a pipeline whose name goes on and on past any column width · 20261128.4';
    const node = 'aks-nodepool-with-a-long-name-12345678-vmss000000';
    data.agents[1] = { ...data.agents[1], runningJob: { ...data.agents[1].runningJob!, name: job } };
    data.snapshots[0].pods[0] = { ...data.snapshots[0].pods[0], node };
    const root = render(new hub.LocalRunnerPoolService(data));
    await eventually(() => assert.equal(rows(root).length, 5));
    const titles = (pod: string) => [...rowOf(root, pod).querySelectorAll('[title]')].map((element) => element.getAttribute('title'));
    assert.ok(titles('linux-1').includes(job), `the running job's whole name: ${titles('linux-1').join(' | ')}`);
    assert.ok(titles('linux-0').includes(node), `the node's whole name: ${titles('linux-0').join(' | ')}`);
    for (const line of rows(root).flatMap((row) => [...row.querySelectorAll('.slot-line')])) assert.equal(line.getAttribute('title'), line.textContent);
  });

  it('shows a slot the autoscaler holds gated as parked, says what that means, and counts it', async () => {
    const data = fixture();
    data.snapshots[0].pods[4] = { ...data.snapshots[0].pods[4], node: undefined, waitingReason: undefined, gated: true };
    const root = render(new hub.LocalRunnerPoolService(data));
    await eventually(() => assert.equal(rows(root).length, 5));
    const parked = rowOf(root, 'linux-4');
    assert.equal(parked.querySelector('.slot-state-label')?.textContent, 'Parked');
    assert.match(parked.querySelector('.slot-state')?.getAttribute('title') ?? '', /waits, on no node and costing nothing, until the autoscaler starts it for a job/);
    assert.match(parked.textContent ?? '', /starts when a job needs it/);
    assert.deepEqual(['offline', 'disabled', 'parked'].map((key) => counter(root, key)), ['1', '1', '1']);
  });

  it('counts agents online, busy, idle, offline and disabled, and the pool\'s queued jobs; names the snapshot\'s age', async () => {
    const root = render(new hub.LocalRunnerPoolService(fixture()));
    await eventually(() => assert.equal(counter(root, 'queued'), '2'));
    assert.equal(root.querySelector('[data-counter="queued"] .pool-counter-label')?.textContent, 'Queued jobs · this runner counts 2');
    assert.equal(root.querySelector('.pool-counted')?.textContent, 'Waiting jobs this runner counts: CI · Waiting 42 (#42), CI · Waiting 43 (#43).');
    assert.equal((root.querySelector('.pool-counted a') as HTMLAnchorElement).href, 'https://dev.azure.com/contoso/p/_build/results?buildId=42');
    assert.deepEqual(['online', 'busy', 'idle', 'offline', 'disabled'].map((key) => counter(root, key)), ['3', '1', '1', '1', '1']);
    assert.match(root.textContent ?? '', /Pod data from 3 min ago \(ScaleRunnerPool\)/);
    assert.match(root.textContent ?? '', /1 busy \+ 2 queued \+ 1 standby = 5 replicas/);
    assert.doesNotMatch(root.textContent ?? '', /Jobs waited/, 'no figure before a job started');
    const poolLink = root.querySelector('.pool-name a') as HTMLAnchorElement;
    assert.equal(poolLink.href, 'https://dev.azure.com/contoso/_settings/agentpools?poolId=3&view=agents');
  });

  it('shows how long jobs waited for this runner\'s agents over the last day', async () => {
    const data = fixture();
    data.snapshots[0] = { ...data.snapshots[0], jobWait: { jobs: 240, medianSeconds: 6.4, p95Seconds: 95 } };
    const root = render(new hub.LocalRunnerPoolService(data));
    await eventually(() => assert.match(root.querySelector('.pool-snapshot')?.textContent ?? '', /Jobs waited for an agent over the last day: median 6 s, 95th percentile 95 s \(240 jobs\)\./));
  });

  it('shows the slots before the queue arrives, "…" in its counter meanwhile, then the count', async () => {
    let answer!: (jobs: HubJobRequest[]) => void;
    const data = fixture();
    data.jobRequestsByPool = { 'Linux Private': new Promise<HubJobRequest[]>((resolve) => { answer = resolve; }) };
    const root = render(new hub.LocalRunnerPoolService(data));
    await eventually(() => assert.equal(rows(root).length, 5));
    assert.equal(counter(root, 'queued'), '…');
    assert.equal(root.querySelector('[data-counter="queued"] .pool-counter-label')?.textContent, 'Queued jobs');
    assert.equal(root.querySelector('.pool-counted'), null);
    assert.equal(counter(root, 'online'), '3');
    answer([50, 51, 52, 53, 54, 55, 56].map((id) => waiting(id)));
    await eventually(() => assert.equal(counter(root, 'queued'), '7'));
    assert.match(root.querySelector('[data-counter="queued"]')?.textContent ?? '', /this runner counts 7/);
    assert.equal(root.querySelector('.pool-counted')?.textContent,
      'Waiting jobs this runner counts: CI · Waiting 50 (#50), CI · Waiting 51 (#51), CI · Waiting 52 (#52), CI · Waiting 53 (#53), CI · Waiting 54 (#54) and 2 more.');
    assert.equal(rows(root).length, 5);
  });

  it('shows on each runner of a shared pool the waiting jobs it counts, next to the pool\'s queue', async () => {
    const data = fixture();
    // A second runner in the same pool whose agents also offer TOOLBOX; both are autoscaled, so they share the queue.
    const tools = (ordinal: number): HubAgent => {
      const pod = `tools-${ordinal}`;
      return { ...agent(ordinal, {}), id: 100 + ordinal, name: pod, capabilities: { ...identity(pod), RUNNER_NAME: 'tools', RUNNER_SCALING: 'autoscaler', TOOLBOX: 'yes' } };
    };
    data.agents = [...data.agents.map((a) => ({ ...a, capabilities: { ...a.capabilities, RUNNER_SCALING: 'autoscaler' } })), tools(0)];
    data.jobRequestsByPool = { 'Linux Private': [waiting(60), waiting(61, ['TOOLBOX']), waiting(62), waiting(63, ['TOOLBOX -equals yes'])] };
    const root = render(new hub.LocalRunnerPoolService(data));
    await eventually(() => assert.match(cardOf(root, 'ci.tools').textContent ?? '', /this runner counts/));
    const share = (key: string) => [cardOf(root, key).querySelector('[data-counter="queued"] .pool-counter-value')?.textContent,
      cardOf(root, key).querySelector('.pool-counter-share')?.textContent, cardOf(root, key).querySelector('.pool-counted')?.textContent];
    assert.deepEqual(share('ci.linux'), ['4', ' · this runner counts 2', 'Waiting jobs this runner counts: CI · Waiting 60 (#60), CI · Waiting 62 (#62).']);
    assert.deepEqual(share('ci.tools'), ['4', ' · this runner counts 2', 'Waiting jobs this runner counts: CI · Waiting 61 (#61), CI · Waiting 63 (#63).']);
  });

  it('says on the card which slots cannot start and why, and next to each waiting job this runner counts', async () => {
    const data = fixture();
    data.snapshots[0] = { ...data.snapshots[0], pods: data.snapshots[0].pods.map((p) => (p.name === 'linux-4' ? { ...p, waitingReason: 'ImagePullBackOff' } : p)),
      stuckSlots: [{ slot: 4, reason: 'imagePull', kubernetesReason: 'ImagePullBackOff', message: 'Back-off pulling image "registry.invalid/runner:1"' }] };
    const root = render(new hub.LocalRunnerPoolService(data));
    await eventually(() => assert.equal(counter(root, 'queued'), '2'));
    assert.equal(root.querySelector('.pool-stuck')?.textContent, 'slot 4 cannot start: ImagePullBackOff (Back-off pulling image "registry.invalid/runner:1")');
    assert.equal(root.querySelector('.pool-counted')?.textContent,
      'Waiting jobs this runner counts: CI · Waiting 42 (#42) — waits: slot 4 cannot start (ImagePullBackOff), CI · Waiting 43 (#43) — waits: slot 4 cannot start (ImagePullBackOff).');
    assert.equal(rowOf(root, 'linux-4').querySelector('.slot-state-label')?.textContent, 'Pod failing');
  });

  it('shows a failed queue read in its counter, not as a page error', async () => {
    const data = fixture();
    data.jobRequestsByPool = { 'Linux Private': new hub.RunnerPoolError('agentPools', 500, 'TF400898: An internal error occurred.') };
    const root = render(new hub.LocalRunnerPoolService(data));
    await eventually(() => assert.equal(counter(root, 'queued'), '!'));
    assert.match(root.querySelector('[data-counter="queued"]')?.textContent ?? '', /Not loaded: Azure DevOps answered HTTP 500/);
    assert.equal(root.querySelector('.pool-counter-share'), null);
    assert.equal(root.querySelector('.pool-counted'), null);
    assert.equal(root.querySelector('.hub-error'), null);
    assert.equal(rows(root).length, 5);
  });

  it('filters rows by what they show', async () => {
    const root = render(new hub.LocalRunnerPoolService(fixture()));
    await eventually(() => assert.equal(rows(root).length, 5));
    typeFilter(root, 'busy');
    await eventually(() => assert.deepEqual(rows(root).map((r) => r.querySelector('.slot-pod')?.textContent), ['linux-1']));
    typeFilter(root, 'nothing-like-this');
    await eventually(() => assert.match(root.textContent ?? '', /No slot matches “nothing-like-this”/));
  });

  it('renders the first rows of a large pool, not all of them, and the filter reaches any slot', async () => {
    const data = fixture();
    const slots = 300;
    data.agents = Array.from({ length: slots }, (_, ordinal) => agent(ordinal, {}));
    data.snapshots[0] = { ...data.snapshots[0], replicas: slots, pods: [] };
    const root = render(new hub.LocalRunnerPoolService(data));
    await eventually(() => assert.equal(rows(root)[0]?.querySelector('.slot-pod')?.textContent, 'linux-0'));
    assert.ok(rows(root).length < slots / 4, `${rows(root).length} of ${slots} rows in the DOM`);
    assert.equal(counter(root, 'idle'), String(slots));
    typeFilter(root, 'linux-287');
    await eventually(() => assert.deepEqual(rows(root).map((r) => r.querySelector('.slot-pod')?.textContent), ['linux-287']));
  });

  it('refreshes on its own and shows what changed', async () => {
    const data = fixture();
    const service = new hub.LocalRunnerPoolService(data);
    const root = render(service, 30);
    await eventually(() => assert.equal(rowOf(root, 'linux-0').querySelector('.slot-state-label')?.textContent, 'Idle'));
    data.agents[0] = agent(0, { status: 'offline' });
    service.set(data);
    await eventually(() => assert.equal(rowOf(root, 'linux-0').querySelector('.slot-state-label')?.textContent, 'Offline'));
    assert.ok(service.loads >= 2);
  });

  it('keeps the last data when a refresh fails, and says so', async () => {
    const service = new hub.LocalRunnerPoolService(fixture());
    const root = render(service, 30);
    await eventually(() => assert.equal(rows(root).length, 5));
    service.set(new hub.RunnerPoolError('agentPools', undefined, 'TF400893: Unable to contact the server.'));
    await eventually(() => assert.match(root.querySelector('.hub-refresh-error')?.textContent ?? '', /Cannot reach Azure DevOps\. Showing data from/));
    assert.equal(rows(root).length, 5);
  });

  it('with no runner pool, tells the user to run DeployRunnerPool', async () => {
    const root = render(new hub.LocalRunnerPoolService({ agents: [], jobRequestsByPool: {}, snapshots: [] }));
    await eventually(() => assert.match(root.querySelector('.hub-empty')?.textContent ?? '', /No runner pool found.*Run the DeployRunnerPool task/));
  });

  it('shows a pool scaled to zero with its counters and what brings pods back', async () => {
    const data = fixture();
    data.agents = [];
    data.snapshots[0] = { ...data.snapshots[0], replicas: 0, pods: [], lastDecision: undefined };
    const root = render(new hub.LocalRunnerPoolService(data));
    await eventually(() => assert.match(root.querySelector('.pool-empty')?.textContent ?? '', /has no slots.*ScaleRunnerPool adds pods/));
    await eventually(() => assert.equal(counter(root, 'queued'), '2'));
    assert.equal(rows(root).length, 0);
  });

  it('names the missing permission on 403, asks to sign in again on 401, and retries on request', async () => {
    const service = new hub.LocalRunnerPoolService(new hub.RunnerPoolError('agentPools', 403,
      'Access Denied: The Personal Access Token used has not been granted the scope required for this request (vso.agentpools).'));
    const root = render(service);
    await eventually(() => assert.match(root.querySelector('.hub-error')?.textContent ?? '', /This page needs Agent Pools \(read\).*HTTP 403/));
    service.set(new hub.RunnerPoolError('extensionData', 403, 'Access Denied (vso.extension.data).'));
    (root.querySelector('.hub-error button') as HTMLButtonElement).click();
    await eventually(() => assert.match(root.querySelector('.hub-error')?.textContent ?? '', /This page needs Extension Data \(read\)/));
    service.set(new hub.RunnerPoolError('agentPools', 401, 'TF400813: not authorized.'));
    (root.querySelector('.hub-error button') as HTMLButtonElement).click();
    await eventually(() => assert.match(root.querySelector('.hub-error')?.textContent ?? '', /did not accept your sign-in.*Reload the page/));
    service.set(fixture());
    (root.querySelector('.hub-error button') as HTMLButtonElement).click();
    await eventually(() => assert.equal(rows(root).length, 5));
  });

  it('says the server cannot be reached when the connection fails', async () => {
    const root = render(new hub.LocalRunnerPoolService(new hub.RunnerPoolError('agentPools', undefined, 'TF400893: Unable to contact the server.')));
    await eventually(() => assert.match(root.querySelector('.hub-error')?.textContent ?? '', /Cannot reach Azure DevOps.*Check your network connection/));
  });
});
