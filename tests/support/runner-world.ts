// A runner pool's world for component tests, in one process and in the flows' own time: the FakeKube cluster, the
// Azure DevOps emulator's store (reached by the real RestAdoClient on loopback) and a FakeClock. The two are joined as
// a runner pod joins them: a ready pod's agent registers under the pod's name and goes online; a pod that stops takes
// its agent offline, and if that agent was running a job, the job is cut off — which the flows must never cause.
import { randomUUID } from 'node:crypto';
import { RestAdoClient } from '../../src/clients/ado-rest.js';
import { DelegatingAdoClient, type AdoClient, type AgentListIncludes } from '../../src/core/ports/ado.js';
import type { KubeObject } from '../../src/core/ports/kube.js';
import type { AutoscalerEvents } from '../../src/core/ports/autoscaler-events.js';
import { InputReader } from '../../src/core/inputs.js';
import { readDeployOptions } from '../../src/core/deploy-options.js';
import { readScaleOptions } from '../../src/core/scale-options.js';
import { slotOrdinal } from '../../src/core/slots.js';
import { deployRunnerPool, type DeployResult } from '../../src/flows/deploy-pool.js';
import { scaleRunnerPool } from '../../src/flows/scale-pool.js';
import type { ScaleDecision } from '../../src/core/model.js';
import type { Agent } from '../../emulator/src/types.js';
import { LOCATION, VssClient } from '../../emulator/agent/client.js';
import { publicKeyOf } from '../../emulator/agent/settings.js';
import { DEFAULT_PAT, type TestEmulator } from './emulator.js';
import type { RunnerHandshake } from '../../src/core/ports/handshake.js';
import type { RegistrationGrant } from '../../src/core/registration.js';
import { identityVariables } from '../../src/core/manifests/index.js';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { autoscalerKeyMaker } from '../../src/clients/autoscaler-keys.js';
import { FakeClock } from './fake-clock.js';
import { FakeKube, type FakeKubeOptions } from './fake-kube.js';
import { MemoryHost } from './memory-host.js';
import { MemoryFiles } from './memory-files.js';

export type AdoMethod = Exclude<keyof AdoClient, 'throttledSeconds' | 'calls' | 'rateLimit'>;

/** The real client, with a test's hook before each call: where the world moves between a flow's looks and acts. */
class HookedAdo extends DelegatingAdoClient {
  private readonly hooks: Array<{ method: AdoMethod; run: (args: unknown[]) => void | Promise<void> }> = [];
  /** The methods called so far, in order. */
  readonly called: AdoMethod[] = [];

  /** Runs `run` with the call's arguments before every call of `method`. */
  before(method: AdoMethod, run: (args: unknown[]) => void | Promise<void>): void {
    this.hooks.push({ method, run });
  }

  private async enter(method: AdoMethod, ...args: unknown[]): Promise<void> {
    this.called.push(method);
    for (const hook of this.hooks) if (hook.method === method) await hook.run(args);
  }

  async findPool(name: string) {
    await this.enter('findPool', name);
    return this.inner.findPool(name);
  }
  async listAgents(poolId: number, name?: string, include?: AgentListIncludes) {
    await this.enter('listAgents', poolId, name, include);
    return this.inner.listAgents(poolId, name, include);
  }
  async getAgent(poolId: number, agentId: number) {
    await this.enter('getAgent', poolId, agentId);
    return this.inner.getAgent(poolId, agentId);
  }
  async listUnfinishedJobs(poolId: number) {
    await this.enter('listUnfinishedJobs', poolId);
    return this.inner.listUnfinishedJobs(poolId);
  }
  async deleteAgent(poolId: number, agentId: number) {
    await this.enter('deleteAgent', poolId, agentId);
    return this.inner.deleteAgent(poolId, agentId);
  }
  async setAgentEnabled(poolId: number, agentId: number, enabled: boolean) {
    await this.enter('setAgentEnabled', poolId, agentId, enabled);
    return this.inner.setAgentEnabled(poolId, agentId, enabled);
  }
  async registerAgent(...args: Parameters<AdoClient['registerAgent']>) {
    await this.enter('registerAgent', ...args);
    return this.inner.registerAgent(...args);
  }
  async deploymentType() {
    await this.enter('deploymentType');
    return this.inner.deploymentType();
  }
  async publishSnapshot(snapshot: Parameters<AdoClient['publishSnapshot']>[0]) {
    await this.enter('publishSnapshot', snapshot);
    return this.inner.publishSnapshot(snapshot);
  }
  async deleteSnapshot(id: string) {
    await this.enter('deleteSnapshot', id);
    return this.inner.deleteSnapshot(id);
  }
}

/** A runner pod's agent key: one real 2048-bit key serves every fake pod. */
const podPrivateKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const podKey = publicKeyOf(podPrivateKey);
/** A pod's nonce: one per pod here, as one per key in a real pod. */
const nonceOf = (pod: KubeObject) => createHash('sha256').update(pod.metadata.uid!).digest('base64url');

export const namespace = 'runners';
export const poolName = 'Linux Private';
export const runnerName = 'linux-private';
/** Extension data needs an installed extension's identity; any name serves the emulator. */
const extension = { publisher: 'tests', id: 'azure-devops-runner' };

export interface WorldOptions {
  kube?: Omit<Partial<FakeKubeOptions>, 'clock'>;
  /** The PAT's scopes; default full access. */
  scopes?: string[];
}

/** A second runner of the same pool in the same fake cluster, emulator store and time: its namespace and name. */
export interface BesideOptions {
  namespace: string;
  /** Undefined: deploy with the default runner name, and learn it from the deploy. */
  runnerName?: string;
}

/** What a runner pod's agent reports about whose it is: its pod's identity variables (src/core/runner-identity.ts). */
function podIdentity(pod: KubeObject): Record<string, string> {
  const env = ((pod.spec as { containers: Array<{ name: string; env?: Array<{ name: string; value?: string }> }> }).containers.find((c) => c.name === 'agent')?.env ?? []);
  const value = (name: string) => env.find((variable) => variable.name === name)?.value;
  const cluster = value(identityVariables.cluster);
  return {
    [identityVariables.runnerName]: value(identityVariables.runnerName) ?? '',
    [identityVariables.namespace]: pod.metadata.namespace!,
    [identityVariables.podUid]: pod.metadata.uid!,
    ...(cluster !== undefined && { [identityVariables.cluster]: cluster }),
  };
}

export class RunnerWorld {
  readonly clock: FakeClock;
  readonly kube: FakeKube;
  readonly ado: HookedAdo;
  readonly token: string;
  /** Pods that stopped while their agent was running a job, with that job. */
  readonly cutOff: Array<{ pod: string; requestId: number }> = [];
  /** This runner's namespace and name (a runner deployed with the default name learns it from its deploy). */
  readonly namespace: string;
  runnerName: string;
  private readonly defaultName: boolean;

  private constructor(
    readonly emulator: TestEmulator,
    readonly poolId: number,
    options: WorldOptions,
    shared?: { world: RunnerWorld; runner: BesideOptions },
  ) {
    this.clock = shared?.world.clock ?? new FakeClock();
    this.kube = shared?.world.kube ?? new FakeKube({ namespaces: [namespace], ...options.kube, clock: this.clock });
    this.token = shared?.world.token ?? (options.scopes === undefined ? DEFAULT_PAT.token : `pat-${randomUUID()}`);
    // Its own client: a test's hooks see this runner's calls only.
    this.ado = new HookedAdo(
      new RestAdoClient({ organizationUrl: emulator.orgUrl, token: this.token, extension, sleep: (ms) => this.clock.sleep(ms), log: () => {} }),
    );
    this.namespace = shared?.runner.namespace ?? namespace;
    this.defaultName = shared !== undefined && shared.runner.runnerName === undefined;
    this.runnerName = shared === undefined ? runnerName : (shared.runner.runnerName ?? '');
    this.kube.onPod((event, pod) => {
      if (pod.metadata.namespace === this.namespace) this.podChanged(event, pod);
    });
  }

  /** A fresh world on a reset emulator: one empty agent pool, nothing in the cluster. */
  static async create(emulator: TestEmulator, options: WorldOptions = {}): Promise<RunnerWorld> {
    await emulator.admin.reset();
    const pool = await emulator.admin.createPool(poolName);
    const world = new RunnerWorld(emulator, pool.id, options);
    if (options.scopes !== undefined) await emulator.admin.addPat({ token: world.token, scopes: options.scopes });
    return world;
  }

  /**
   * Another runner of this world's pool, in `namespace` of the same fake cluster (create the first world with
   * `kube: { namespaces: [...] }` naming it), over the same emulator store, token and clock, with its own client.
   */
  static beside(world: RunnerWorld, runner: BesideOptions): RunnerWorld {
    return new RunnerWorld(world.emulator, world.poolId, {}, { world, runner });
  }

  private get store() {
    return this.emulator.store;
  }

  /**
   * Runner pods of an autoscaled pool (AZP_REGISTRATION=autoscaler) wait for their registration instead of making one:
   * a ready pod serves its request at its IP, as runner/handshake.ts does, until the autoscaler grants it.
   */
  readonly handshake: RunnerHandshake = {
    request: async (ip) => {
      const pod = this.serving.get(ip);
      return pod && { podName: pod.metadata.name, podUid: pod.metadata.uid!, publicKey: podKey, keyId: pod.metadata.uid!.slice(0, 8), nonce: nonceOf(pod), systemCapabilities: { 'Agent.Name': pod.metadata.name, RUNNER_SCALING: 'autoscaler', ...podIdentity(pod), ...this.forgedCapabilities }, acceptsNoticeUrl: true };
    },
    grant: async (ip, grant, request) => {
      const pod = this.serving.get(ip);
      if (pod === undefined || pod.metadata.name !== grant.agentName) throw new Error(`no pod at ${ip} waits for ${grant.agentName}`);
      // The real pod takes only a grant signed over the request it serves (tests/unit/runner/handshake.test.ts).
      if (request.podUid !== pod.metadata.uid || request.nonce !== nonceOf(pod)) throw new Error(`the grant for ${grant.agentName} answers another request`);
      // The agent's first call gets its token where the grant says: a grant that points elsewhere fails here.
      const { clientId, authorizationUrl, oauthEndpointUrl } = grant;
      await new VssClient(grant.serverUrl, { kind: 'oauth', clientId, authorizationUrl, oauthEndpointUrl, key: podPrivateKey }, 'runner-world').connect();
      this.serving.delete(ip);
      this.granted.push(grant.agentName);
      this.grants.push(grant);
      const agent = this.store.agents.get(grant.agentId)!;
      this.store.createSession(agent, `${grant.agentName}-listener`);
    },
  };
  /** What a hostile pod adds to its registration request's capabilities (the request is the pod's word). */
  forgedCapabilities: Record<string, string> = {};
  /** Pods serving their registration request, by IP. */
  private readonly serving = new Map<string, KubeObject>();
  /** The agents the autoscaler registered, in order, and the grants it handed their pods. */
  readonly granted: string[] = [];
  readonly grants: RegistrationGrant[] = [];

  /**
   * What a job that copied its agent's files (`.agent`, `.credentials`, `.credentials_rsaparams`) can do with them
   * from elsewhere: get the agent's token. True when the service still hands one out.
   */
  async stolenKeyWorks(grant: RegistrationGrant): Promise<boolean> {
    return (await this.stolenKeySession(grant)) !== undefined;
  }

  /**
   * An agent started from the copied files: it gets the agent's token and, given `systemCapabilities`, opens a session
   * reporting them through the service's own route, as every agent does (a capability is the session's word). Its
   * session id, or undefined when the service refuses the key.
   */
  async stolenKeySession(grant: RegistrationGrant, systemCapabilities?: Record<string, string>): Promise<string | undefined> {
    const { clientId, authorizationUrl, oauthEndpointUrl } = grant;
    try {
      const client = new VssClient(grant.serverUrl, { kind: 'oauth', clientId, authorizationUrl, oauthEndpointUrl, key: podPrivateKey }, 'stolen');
      await client.connect();
      if (systemCapabilities === undefined) return 'connected';
      const body = { ownerName: 'stolen', agent: { id: grant.agentId, name: grant.agentName }, systemCapabilities };
      const session = await client.send<{ sessionId: string }>('POST', LOCATION.sessions, { routeValues: { poolId: grant.poolId }, body });
      return session?.sessionId;
    } catch {
      return undefined;
    }
  }

  private podChanged(event: string, pod: KubeObject): void {
    const name = pod.metadata.name;
    const byAutoscaler = JSON.stringify(pod.spec).includes('"AZP_REGISTRATION"');
    if (event === 'ready' && byAutoscaler) {
      this.serving.set((pod.status as { podIP: string }).podIP, pod);
    } else if (event === 'ready') {
      const agent = this.agent(name) ?? this.register(name, podIdentity(pod));
      // The register step replaces the registration (config.sh --replace): it reports this pod's identity.
      agent.systemCapabilities = { ...agent.systemCapabilities, ...podIdentity(pod) };
      if (this.store.sessionOf(agent.id) === undefined) this.store.createSession(agent, `${name}-listener`);
    } else if (event === 'deleting') {
      for (const [ip, serving] of this.serving) if (serving.metadata.uid === pod.metadata.uid) this.serving.delete(ip);
      const agent = this.agent(name);
      if (agent?.assignedRequestId !== undefined) this.cutOff.push({ pod: name, requestId: agent.assignedRequestId });
      const session = agent && this.store.sessionOf(agent.id);
      if (session) this.store.deleteSession(session.sessionId);
    }
  }

  /**
   * Registers an agent as the register step does: under the pod's name, with its name as a capability, and the pod's
   * identity when a pod registers it (without: a registration from before identities).
   */
  register(name: string, identity: Record<string, string> = {}): Agent {
    const now = new Date().toISOString();
    const agent: Agent = {
      id: this.store.id('agent'), poolId: this.poolId, name, version: '4.266.2', osDescription: 'Linux', enabled: true,
      createdOn: now, statusChangedOn: now, systemCapabilities: { 'Agent.Name': name, 'Agent.OS': 'Linux', ...identity }, userCapabilities: {},
      publicKey: { exponent: 'AQAB', modulus: 'AQAB' }, clientId: randomUUID(),
    };
    this.store.agents.set(agent.id, agent);
    return agent;
  }

  /** Takes slot `ordinal`'s registration away, as if its pod's agent had not registered yet; returns what registers it again. */
  unregister(ordinal: number): () => void {
    const agent = this.agent(`${this.runnerName}-${ordinal}`)!;
    this.store.deleteSession(this.store.sessionOf(agent.id)!.sessionId);
    this.store.agents.delete(agent.id);
    return () => {
      this.store.agents.set(agent.id, agent);
      this.store.createSession(agent, `${agent.name}-listener`);
    };
  }

  agent(name: string): Agent | undefined {
    return this.store.poolAgents(this.poolId).find((a) => a.name === name);
  }

  /** This runner's agents by slot: enabled, online, and the job each runs. */
  slots(): Map<number, { name: string; enabled: boolean; online: boolean; job?: number }> {
    const slots = new Map<number, { name: string; enabled: boolean; online: boolean; job?: number }>();
    for (const agent of this.store.poolAgents(this.poolId)) {
      const ordinal = slotOrdinal(this.runnerName, agent.name);
      if (ordinal !== undefined) slots.set(ordinal, { name: agent.name, enabled: agent.enabled, online: this.store.isOnline(agent), job: agent.assignedRequestId });
    }
    return new Map([...slots].sort(([a], [b]) => a - b));
  }

  busySlots(): number[] {
    return [...this.slots()].filter(([, slot]) => slot.job !== undefined).map(([ordinal]) => ordinal);
  }

  /** Queues a job; it goes at once to an online, enabled, idle agent that satisfies its demands, as the service does. */
  queueJob(demands: string[] = []): number {
    const job = this.store.queueJob(this.poolId, { script: 'true', demands });
    if ('rejected' in job) throw new Error(job.rejected);
    return job.requestId;
  }

  /** A job only slot `ordinal` can run. */
  queueJobFor(ordinal: number): number {
    return this.queueJob([`Agent.Name -equals ${this.runnerName}-${ordinal}`]);
  }

  agentOfJob(requestId: number): string | undefined {
    const job = this.store.jobs.get(requestId);
    return job?.reservedAgentId === undefined ? undefined : this.store.agents.get(job.reservedAgentId)?.name;
  }

  /**
   * The job ends and, as every job does, takes its pod with it: the StatefulSet creates a fresh one, at once or
   * `replacedAfterSeconds` later.
   */
  finishJob(requestId: number, replacedAfterSeconds = 0): void {
    const agent = this.agentOfJob(requestId);
    this.finishJobLeavingPod(requestId);
    if (agent !== undefined) this.kube.completePod(this.namespace, agent, replacedAfterSeconds);
  }

  /**
   * The job ends and its agent exits, but its pod runs on: the job stopped the start script (`kill -STOP`), so the
   * container outlives its agent with whatever the job left running.
   */
  finishJobLeavingPod(requestId: number): void {
    const job = this.store.jobs.get(requestId)!;
    const agentId = job.reservedAgentId;
    this.store.finishJob(job, 'succeeded');
    const session = agentId === undefined ? undefined : this.store.sessionOf(agentId);
    if (session) this.store.deleteSession(session.sessionId);
  }

  replicas(): number | undefined {
    return (this.kube.peek('StatefulSet', this.namespace, this.runnerName)?.spec as { replicas?: number } | undefined)?.replicas;
  }

  pods(): KubeObject[] {
    return this.kube.all('Pod', this.namespace);
  }

  /** Whether slot `ordinal`'s pod has a node: created, and not held by a scheduling gate. */
  scheduled(ordinal: number): boolean {
    return (this.kube.peek('Pod', this.namespace, `${this.runnerName}-${ordinal}`)?.spec as { nodeName?: string } | undefined)?.nodeName !== undefined;
  }

  /**
   * Lifts slot `ordinal`'s scheduling gate as the autoscaler's pass does for a slot it wants running: for a test of what
   * follows while no pass can decide (Azure DevOps failing).
   */
  async startSlot(ordinal: number): Promise<void> {
    await this.kube.mergePatch({ apiVersion: 'v1', kind: 'Pod', namespace: this.namespace, name: `${this.runnerName}-${ordinal}` }, { spec: { schedulingGates: [] } }, 'tests');
  }

  /** The snapshot the last pass or deploy published for the hub. */
  snapshot(): Record<string, unknown> | undefined {
    const key = [extension.publisher, extension.id, 'default', 'current', 'runner-pools'].join('/');
    return this.store.collections.get(key)?.get(`${this.namespace}.${this.runnerName}`.toLowerCase());
  }

  /**
   * DeployRunnerPool's flow, from task inputs as the agent hands them over; `withAdo` false: without Azure DevOps, as the
   * task runs with a credential other than a PAT (src/wiring).
   */
  async deploy(inputs: Record<string, string> = {}, host = new MemoryHost(), withAdo = true): Promise<DeployResult> {
    const named: Record<string, string> = this.defaultName ? {} : { runnerName: this.runnerName };
    const options = readDeployOptions(new InputReader(new MemoryHost({ ...this.inputs(), ...named, image: 'registry.example.com/runner:1', ...inputs })));
    const ado = withAdo ? this.ado : undefined;
    const result = await deployRunnerPool(options, { host, ado, connect: async () => this.kube, files: new MemoryFiles(), clock: this.clock, keys: autoscalerKeyMaker });
    if (this.defaultName) this.runnerName = result.statefulSetName;
    return result;
  }

  /** ScaleRunnerPool's flow, from task inputs. */
  async scale(inputs: Record<string, string>, host = new MemoryHost()): Promise<ScaleDecision> {
    const options = readScaleOptions(new InputReader(new MemoryHost({ ...this.inputs(), runnerName: this.runnerName, ...inputs })));
    return scaleRunnerPool(options, { host, ado: this.ado, connect: async () => this.kube, clock: this.clock });
  }

  private inputs(): Record<string, string> {
    return { connectionType: 'inCluster', namespace: this.namespace, poolName, azureDevOpsUrl: this.emulator.orgUrl, personalAccessToken: this.token };
  }
}

/** An autoscaler loop's reports, unheard: for tests that look at the cluster and the pool instead. */
export const quietEvents: AutoscalerEvents = { turning: () => {}, passed: () => {}, passFailed: () => {}, registered: () => {}, registrationFailed: () => {}, waiting: () => {} };
