// An in-memory Kubernetes behind the KubeClient port, keeping the semantics the flows rest on: server-side apply (one
// manager owns what it applies; a dry run stores nothing), 404s, UID preconditions on delete and merge patch, graceful
// deletion (deletionTimestamp until the pod stops, a grace period given by the delete or the pod), and a StatefulSet controller — Parallel, OnDelete, scale-down removes the
// highest ordinals whether their pods are busy or not, a removed pod comes back under its name with a new UID and the
// current template's controller-revision-hash; scheduling gates (a gated pod gets no node and starts nothing until a
// patch removes its last gate; a patch may remove gates, never add one, as the API server refuses). Time moves with
// the injected FakeClock.
import { KubeApiError, type KubeClient, type KubeObject, type ObjectRef } from '../../src/core/ports/kube.js';
import type { FakeClock } from './fake-clock.js';

export type KubeVerb = 'apply' | 'mergePatch' | 'create' | 'scale' | 'get' | 'list' | 'watch' | 'delete' | 'version';

export interface KubeCall {
  verb: KubeVerb;
  kind: string;
  name?: string;
  dryRun?: boolean;
  /** A delete's own grace period. */
  gracePeriodSeconds?: number;
}

/**
 * What the world around the cluster sees of a pod: it is given a node (scheduled: at once, or once its last scheduling
 * gate is removed), a runner's agent goes online when it is ready, offline when it stops.
 */
export type PodEvent = 'scheduled' | 'ready' | 'deleting' | 'gone';

export interface FakeKubeOptions {
  clock: FakeClock;
  /** Namespaces that exist; applying into another one is refused as the API server does. */
  namespaces: string[];
  version?: { major: number; minor: number };
  /** Container restart rules (Kubernetes >= 1.35): without them the API server drops the fields from pod templates. */
  restartRules?: boolean;
  /** How long a pod takes from creation to ready. */
  podStartSeconds?: number;
  /** How long a deleted pod takes to stop (at most its grace period). */
  podStopSeconds?: number;
  /** The UID of its kube-system namespace: the cluster's identity (src/flows/runner-identity.ts). */
  clusterUid?: string;
}

interface Fault {
  verb?: KubeVerb;
  kind?: string;
  error: KubeApiError;
  times: number;
}

type Json = Record<string, unknown>;
interface Template {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { containers: Json[]; terminationGracePeriodSeconds?: number; schedulingGates?: Array<{ name: string }> };
}
interface StatefulSetShape {
  spec: { replicas?: number; template: Template };
  status?: Json;
}

const clone = <T>(value: T): T => structuredClone(value);
/** Names in the order the API server lists them here: `r-2` before `r-10`. One collator: making one per comparison is slow. */
const byName = new Intl.Collator('en', { numeric: true }).compare;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** RFC 7386: objects merge, null removes, anything else (arrays included) replaces. */
export function jsonMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const result: Json = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = jsonMergePatch(result[key], value);
  }
  return result;
}

/**
 * Server-side apply of a string map: the applier's keys replace the stored ones, and a key it applied last time but
 * applies no more is removed (it owned it); keys other writers set stay.
 */
function merged(stored: Record<string, string> | undefined, applied: Record<string, string> | undefined, appliedBefore: string[] = []): Record<string, string> | undefined {
  if (stored === undefined && applied === undefined) return undefined;
  const result = { ...stored };
  for (const key of appliedBefore) if (!(applied && key in applied)) delete result[key];
  return { ...result, ...applied };
}

/** The controller's template hash: the same template always gives the same revision, another one a new revision. */
function revisionHash(template: unknown): string {
  let hash = 0x811c9dc5;
  for (const char of JSON.stringify(template)) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193) >>> 0;
  return hash.toString(36);
}

function matchesSelector(labels: Record<string, string> | undefined, selector: string | undefined): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const [key, value] = term.split('=');
    return labels?.[key] === value;
  });
}

/** A field selector of `path=value` terms (`involvedObject.name=x`), as the API server reads one. */
function matchesFields(object: KubeObject, selector: string | undefined): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const [path, value] = term.split('=');
    const found = path.split('.').reduce<unknown>((at, key) => (isObject(at) ? at[key] : undefined), object);
    return String(found ?? '') === value;
  });
}

/** A cluster with one StatefulSet of `replicas` and no pods, for a pass that only reads and scales it; nothing else is used. */
export function statefulSetOnly(replicas: number): KubeClient {
  const unused = () => Promise.reject(new Error('not used'));
  return {
    get: async (ref) => ({ apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name, namespace: ref.namespace }, spec: { replicas } }),
    mergePatch: async (ref) => ({ apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name } }),
    scale: async () => {},
    list: async (): Promise<KubeObject[]> => [],
    watch: unused,
    apply: unused,
    create: unused,
    delete: unused,
    version: unused,
  };
}

export class FakeKube implements KubeClient {
  readonly calls: KubeCall[] = [];
  private readonly objects = new Map<string, KubeObject>();
  private readonly namespaces: Set<string>;
  private readonly faults: Fault[] = [];
  private readonly hooks: Array<{ verb: KubeVerb; run: (call: KubeCall) => void | Promise<void> }> = [];
  private readonly podListeners: Array<(event: PodEvent, pod: KubeObject) => void> = [];
  private uids = 0;
  private ips = 0;
  /** The label and annotation keys the applier last applied, per object: what it owns. */
  private readonly appliedKeys = new Map<string, string[]>();
  private resourceVersion = 0;
  /** The stored objects by kind and namespace, by key: a cluster of thousands of pods lists one namespace cheaply. */
  private readonly groups = new Map<string, Map<string, KubeObject>>();
  /** The status pods take when they start, instead of running (startPodsAs). */
  private startStatus: Json | undefined;
  /** A ResourceQuota on the number of pods, per namespace (limitPods). */
  private readonly podQuotas = new Map<string, number>();
  /** The key of each recorded Event, by what makes a repeat the same Event: its object, reason and message. */
  private readonly eventKeys = new Map<string, string>();
  /**
   * Open watches: each gets the whole current list of what it watches after every change. As from the client's watch
   * (src/clients/kube-http.ts), only the changed object is a new copy; the others are those of the last list.
   */
  private readonly watches = new Set<{ kind: string; namespace: string; labelSelector: string; onChange: (items: KubeObject[]) => void; items: Map<string, KubeObject> }>();

  constructor(private readonly options: FakeKubeOptions) {
    this.namespaces = new Set(options.namespaces);
    for (const name of ['kube-system', ...options.namespaces]) {
      const uid = name === 'kube-system' ? (options.clusterUid ?? 'kube-system-uid') : `namespace-uid-${name}`;
      this.objects.set(this.key('Namespace', undefined, name), { apiVersion: 'v1', kind: 'Namespace', metadata: { name, uid } });
    }
  }

  private get clock(): FakeClock {
    return this.options.clock;
  }

  /** The next `times` calls of `verb` (on `kind`) fail with `error`, before they change anything. */
  failNext(match: { verb?: KubeVerb; kind?: string }, error: KubeApiError, times = 1): void {
    this.faults.push({ ...match, error, times });
  }

  /** Runs `run` before every call of `verb`, a test's way to let the world move between a flow's steps; returns its removal. */
  before(verb: KubeVerb, run: (call: KubeCall) => void | Promise<void>): () => void {
    const hook = { verb, run };
    this.hooks.push(hook);
    return () => this.hooks.splice(this.hooks.indexOf(hook), 1);
  }

  /**
   * Pods that start from now on take `status` (a pod's status as Kubernetes reports it, e.g. in ImagePullBackOff)
   * instead of running: they never get ready. Undefined: pods run again.
   */
  startPodsAs(status: Json | undefined): void {
    this.startStatus = status && clone(status);
  }

  /**
   * A ResourceQuota of `pods` pods in the namespace (undefined: none): the StatefulSet controller's creates beyond it
   * are refused, each recorded as the controller records it, a FailedCreate Warning Event on the StatefulSet.
   */
  limitPods(namespace: string, pods: number | undefined): void {
    if (pods === undefined) this.podQuotas.delete(namespace);
    else this.podQuotas.set(namespace, pods);
    for (const statefulSet of this.stored('StatefulSet', namespace)) this.reconcile(statefulSet);
  }

  onPod(listener: (event: PodEvent, pod: KubeObject) => void): void {
    this.podListeners.push(listener);
  }

  /** What is stored under a name, as a copy; no call is recorded. */
  peek(kind: string, namespace: string, name: string): KubeObject | undefined {
    const stored = this.objects.get(this.key(kind, namespace, name));
    return stored && clone(stored);
  }

  /** The stored objects of a kind, as copies, by name. */
  all(kind: string, namespace: string): KubeObject[] {
    return this.stored(kind, namespace).map(clone);
  }

  /** The stored objects themselves (not copies: for reading only), by name. */
  private stored(kind: string, namespace: string, labelSelector?: string): KubeObject[] {
    return [...(this.groups.get(`${kind}/${namespace}`)?.values() ?? [])]
      .filter((o) => matchesSelector(o.metadata.labels, labelSelector))
      .sort((a, b) => byName(a.metadata.name, b.metadata.name));
  }

  private put(key: string, object: KubeObject): void {
    const before = this.objects.get(key);
    this.objects.set(key, object);
    const group = `${object.kind}/${object.metadata.namespace}`;
    this.groups.set(group, (this.groups.get(group) ?? new Map<string, KubeObject>()).set(key, object));
    this.changed(object, before);
  }

  private drop(key: string): void {
    const object = this.objects.get(key);
    this.objects.delete(key);
    if (object) {
      this.groups.get(`${object.kind}/${object.metadata.namespace}`)?.delete(key);
      this.changed(object);
    }
  }

  /**
   * Tells each watch that selects the object, or selected it before this change, the new list of what it selects. As
   * on the API server, a watch hears nothing of objects outside its selector.
   */
  private changed(object: KubeObject, before?: KubeObject): void {
    const key = this.key(object.kind, object.metadata.namespace, object.metadata.name);
    const stored = this.objects.get(key) === object;
    for (const watch of this.watches) {
      if (watch.kind !== object.kind || watch.namespace !== object.metadata.namespace) continue;
      const selects = (o: KubeObject | undefined) => o !== undefined && matchesSelector(o.metadata.labels, watch.labelSelector);
      if (!selects(object) && !selects(before)) continue;
      if (stored && selects(object)) watch.items.set(key, clone(object));
      else watch.items.delete(key);
      watch.onChange([...watch.items.values()].sort((a, b) => byName(a.metadata.name, b.metadata.name)));
    }
  }

  private key(kind: string, namespace: string | undefined, name: string): string {
    return `${kind}/${namespace ?? ''}/${name}`;
  }

  private async enter(call: KubeCall): Promise<void> {
    this.calls.push(call);
    for (const hook of this.hooks) if (hook.verb === call.verb) await hook.run(call);
    const fault = this.faults.find((f) => f.times > 0 && (f.verb === undefined || f.verb === call.verb) && (f.kind === undefined || f.kind === call.kind));
    if (fault) {
      fault.times--;
      throw fault.error;
    }
  }

  /** As the API server answers: the Status names the resource and the name it did not find. */
  private notFound(kind: string, name: string | undefined): KubeApiError {
    const resource = `${kind.toLowerCase()}s`;
    return new KubeApiError(404, 'NotFound', `${resource} "${name}" not found`, { kind: resource, name });
  }

  async apply(object: KubeObject, options: { fieldManager: string; dryRun?: boolean }): Promise<KubeObject> {
    const { namespace, name } = object.metadata;
    await this.enter({ verb: 'apply', kind: object.kind, name, dryRun: options.dryRun === true });
    if (namespace === undefined || !this.namespaces.has(namespace)) throw this.notFound('Namespace', namespace);
    const key = this.key(object.kind, namespace, name);
    const existing = this.objects.get(key);
    // A resourceVersion in the applied object is a precondition, as on the API server.
    const expected = object.metadata.resourceVersion;
    if (expected !== undefined && existing?.metadata.resourceVersion !== expected) {
      throw new KubeApiError(409, 'Conflict', `Operation cannot be fulfilled on ${object.kind.toLowerCase()}s "${name}": the object has been modified`);
    }
    const applied = this.admit(clone(object));
    // One manager owns everything it applies (DeployRunnerPool's applies): its fields replace the stored ones; the
    // server's metadata, the status, and labels or annotations other writers added stay.
    const stored: KubeObject = {
      ...applied,
      metadata: {
        ...existing?.metadata,
        ...applied.metadata,
        labels: merged(existing?.metadata.labels, applied.metadata.labels, this.appliedKeys.get(`${key}/labels`)),
        annotations: merged(existing?.metadata.annotations, applied.metadata.annotations, this.appliedKeys.get(`${key}/annotations`)),
        uid: existing?.metadata.uid ?? this.newUid(),
        creationTimestamp: existing?.metadata.creationTimestamp ?? new Date(this.clock.now()).toISOString(),
        resourceVersion: String(++this.resourceVersion),
      },
      ...(existing?.status !== undefined && { status: existing.status }),
    };
    if (options.dryRun) return clone(stored);
    this.appliedKeys.set(`${key}/labels`, Object.keys(applied.metadata.labels ?? {}));
    this.appliedKeys.set(`${key}/annotations`, Object.keys(applied.metadata.annotations ?? {}));
    this.put(key, stored);
    if (stored.kind === 'StatefulSet') this.reconcile(stored);
    return clone(stored);
  }

  /**
   * What the API server changes on the way in: a Secret's stringData becomes base64 in data; the restart rules fields
   * are dropped on a cluster without the feature.
   */
  private admit(object: KubeObject): KubeObject {
    const { stringData, ...secret } = object as KubeObject & { stringData?: Record<string, string>; data?: Record<string, string> };
    if (object.kind === 'Secret' && stringData !== undefined) {
      const encoded = Object.fromEntries(Object.entries(stringData).map(([key, value]) => [key, Buffer.from(value).toString('base64')]));
      return { ...secret, data: { ...secret.data, ...encoded } };
    }
    if (object.kind !== 'StatefulSet' || this.options.restartRules !== false) return object;
    for (const container of (object as unknown as StatefulSetShape).spec.template.spec.containers) {
      delete container.restartPolicy;
      delete container.restartPolicyRules;
    }
    return object;
  }

  /** The API server's optimistic concurrency: a write that names a resourceVersion fails once the object changed. */
  private precondition(existing: KubeObject, expected: string | undefined): void {
    if (expected !== undefined && existing.metadata.resourceVersion !== expected) {
      throw new KubeApiError(409, 'Conflict', `Operation cannot be fulfilled on ${existing.kind.toLowerCase()}s "${existing.metadata.name}": the object has been modified`);
    }
  }

  async mergePatch(ref: ObjectRef, patch: object, _fieldManager: string): Promise<KubeObject> {
    await this.enter({ verb: 'mergePatch', kind: ref.kind, name: ref.name });
    const key = this.key(ref.kind, ref.namespace, ref.name);
    const existing = this.objects.get(key);
    if (existing === undefined) throw this.notFound(ref.kind, ref.name);
    const { resourceVersion, uid } = (patch as { metadata?: { resourceVersion?: string; uid?: string } }).metadata ?? {};
    this.precondition(existing, resourceVersion);
    // A UID in the patch names the incarnation it was meant for: a newer object under the name refuses it.
    if (uid !== undefined && uid !== existing.metadata.uid) {
      // As the API server answers: a patch's UID is no precondition but a change of an immutable field.
      throw new KubeApiError(422, 'Invalid', `${existing.kind} "${ref.name}" is invalid: metadata.uid: Invalid value: "${uid}": field is immutable`, { kind: existing.kind, name: ref.name, fields: ['metadata.uid'] });
    }
    const patched = jsonMergePatch(existing, patch) as KubeObject;
    const wasGated = existing.kind === 'Pod' && this.gates(existing).length > 0;
    if (existing.kind === 'Pod') this.checkGates(existing, patched);
    patched.metadata.resourceVersion = String(++this.resourceVersion);
    this.put(key, patched);
    if (patched.kind === 'StatefulSet') this.reconcile(patched);
    if (wasGated && this.gates(patched).length === 0) this.schedule(patched);
    return clone(patched);
  }

  private gates(pod: KubeObject): string[] {
    return ((pod.spec as Template['spec'] | undefined)?.schedulingGates ?? []).map((gate) => gate.name);
  }

  /** The API server's rule: a pod's scheduling gates can be removed after creation, never added. */
  private checkGates(existing: KubeObject, patched: KubeObject): void {
    const before = this.gates(existing);
    const added = this.gates(patched).filter((gate) => !before.includes(gate));
    if (added.length > 0) {
      throw new KubeApiError(422, 'Invalid', `Pod "${existing.metadata.name}" is invalid: spec.schedulingGates: Forbidden: only deletion is allowed, but found new scheduling gate '${added[0]}'`);
    }
  }

  async create(object: KubeObject, _fieldManager: string): Promise<KubeObject> {
    const { namespace, name } = object.metadata;
    await this.enter({ verb: 'create', kind: object.kind, name });
    if (namespace === undefined || !this.namespaces.has(namespace)) throw this.notFound('Namespace', namespace);
    const key = this.key(object.kind, namespace, name);
    if (this.objects.has(key)) throw new KubeApiError(409, 'AlreadyExists', `${object.kind.toLowerCase()}s "${name}" already exists`);
    const created: KubeObject = {
      ...clone(object),
      metadata: { ...object.metadata, uid: this.newUid(), creationTimestamp: new Date(this.clock.now()).toISOString(), resourceVersion: String(++this.resourceVersion) },
    };
    this.put(key, created);
    return clone(created);
  }

  async scale(ref: ObjectRef, replicas: number, _fieldManager: string, resourceVersion?: string): Promise<void> {
    await this.enter({ verb: 'scale', kind: ref.kind, name: ref.name });
    const key = this.key(ref.kind, ref.namespace, ref.name);
    const existing = this.objects.get(key);
    if (existing === undefined) throw this.notFound(ref.kind, ref.name);
    this.precondition(existing, resourceVersion);
    const scaled = jsonMergePatch(existing, { spec: { replicas } }) as KubeObject;
    scaled.metadata.resourceVersion = String(++this.resourceVersion);
    this.put(key, scaled);
    this.reconcile(scaled);
  }

  async watch(_apiVersion: string, kind: string, namespace: string, labelSelector: string, onChange: (items: KubeObject[]) => void, signal: AbortSignal): Promise<void> {
    await this.enter({ verb: 'watch', kind });
    const items = new Map(this.stored(kind, namespace, labelSelector).map((o) => [this.key(kind, namespace, o.metadata.name), clone(o)]));
    const watch = { kind, namespace, labelSelector, onChange, items };
    onChange([...items.values()]);
    this.watches.add(watch);
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    this.watches.delete(watch);
  }

  async get(ref: ObjectRef): Promise<KubeObject | undefined> {
    await this.enter({ verb: 'get', kind: ref.kind, name: ref.name });
    const stored = this.objects.get(this.key(ref.kind, ref.namespace, ref.name));
    return stored && clone(stored);
  }

  async list(_apiVersion: string, kind: string, namespace: string, labelSelector?: string, fieldSelector?: string): Promise<KubeObject[]> {
    await this.enter({ verb: 'list', kind });
    return this.stored(kind, namespace, labelSelector).filter((o) => matchesFields(o, fieldSelector)).map(clone);
  }

  async delete(ref: ObjectRef, uid?: string, gracePeriodSeconds?: number): Promise<boolean> {
    await this.enter({ verb: 'delete', kind: ref.kind, name: ref.name, ...(gracePeriodSeconds !== undefined && { gracePeriodSeconds }) });
    const key = this.key(ref.kind, ref.namespace, ref.name);
    const stored = this.objects.get(key);
    // The port's answer to a 404, and to a 409 of a UID precondition: the name is free or belongs to a newer object.
    if (stored === undefined || (uid !== undefined && stored.metadata.uid !== uid)) return false;
    if (stored.kind === 'Pod') this.deletePod(stored, gracePeriodSeconds);
    else this.drop(key);
    return true;
  }

  async version(): Promise<{ major: number; minor: number; gitVersion: string }> {
    await this.enter({ verb: 'version', kind: 'Version' });
    const { major, minor } = this.options.version ?? { major: 1, minor: 36 };
    return { major, minor, gitVersion: `v${major}.${minor}.0` };
  }

  /**
   * A pod's containers have ended (its agent ran its one job): the controller replaces it at once, or
   * `replacedAfterSeconds` later — the moment a look finds the slot without a pod.
   */
  completePod(namespace: string, name: string, replacedAfterSeconds = 0): void {
    const pod = this.objects.get(this.key('Pod', namespace, name));
    if (pod === undefined) throw new Error(`no pod ${namespace}/${name}`);
    this.removePod(pod, replacedAfterSeconds);
  }

  /** The pod under this name, if it is still the incarnation with this UID. */
  private incarnation(namespace: string, name: string, uid: string): KubeObject | undefined {
    const pod = this.objects.get(this.key('Pod', namespace, name));
    return pod?.metadata.uid === uid ? pod : undefined;
  }

  private newUid(): string {
    return `uid-${++this.uids}`;
  }

  private emit(event: PodEvent, pod: KubeObject): void {
    for (const listener of this.podListeners) listener(event, clone(pod));
    // A watch sees every change of a pod, as the API server sends it.
    this.changed(pod);
  }

  /** Graceful deletion: the pod is marked at once and leaves when it has stopped. */
  private deletePod(pod: KubeObject, gracePeriodSeconds?: number): void {
    if (pod.metadata.deletionTimestamp !== undefined) return;
    const grace = gracePeriodSeconds ?? (pod.spec as Template['spec']).terminationGracePeriodSeconds ?? 30;
    pod.metadata.deletionTimestamp = new Date(this.clock.now()).toISOString();
    this.emit('deleting', pod);
    const { namespace, name, uid } = pod.metadata;
    this.clock.at(this.clock.now() + Math.min(grace, this.options.podStopSeconds ?? 5) * 1000, () => {
      const current = this.incarnation(namespace!, name, uid!);
      if (current) this.removePod(current);
    });
  }

  private removePod(pod: KubeObject, replacedAfterSeconds = 0): void {
    this.drop(this.key('Pod', pod.metadata.namespace, pod.metadata.name));
    this.emit('gone', pod);
    const owner = (pod.metadata as { ownerReferences?: Array<{ name: string }> }).ownerReferences?.[0]?.name;
    const key = owner && this.key('StatefulSet', pod.metadata.namespace, owner);
    const reconcile = () => {
      const statefulSet = key && this.objects.get(key);
      if (statefulSet) this.reconcile(statefulSet);
    };
    if (replacedAfterSeconds === 0) reconcile();
    else this.clock.at(this.clock.now() + replacedAfterSeconds * 1000, reconcile);
  }

  /** The StatefulSet controller: Parallel pod management, OnDelete updates. */
  private reconcile(statefulSet: KubeObject): void {
    const { name, namespace } = statefulSet.metadata;
    const { spec } = statefulSet as unknown as StatefulSetShape;
    const replicas = spec.replicas ?? 1;
    const updateRevision = `${name}-${revisionHash(spec.template)}`;
    const pods = this.stored('Pod', namespace!).filter((p) => p.metadata.labels?.['statefulset.kubernetes.io/pod-name'] === p.metadata.name && p.metadata.name.startsWith(`${name}-`));
    for (const pod of pods) {
      const ordinal = Number(pod.metadata.name.slice(name.length + 1));
      if (ordinal >= replicas) this.deletePod(pod);
    }
    for (let ordinal = 0; ordinal < replicas; ordinal++) {
      const pod = `${name}-${ordinal}`;
      if (this.objects.has(this.key('Pod', namespace, pod))) continue;
      const quota = this.podQuotas.get(namespace!);
      const used = this.groups.get(`Pod/${namespace}`)?.size ?? 0;
      if (quota !== undefined && used >= quota) {
        this.recordEvent(statefulSet, 'Warning', 'FailedCreate', `create Pod ${pod} in StatefulSet ${name} failed error: pods "${pod}" is forbidden: exceeded quota: runner-quota, requested: pods=1, used: pods=${used}, limited: pods=${quota}`);
      } else {
        this.createPod(statefulSet, pod, updateRevision);
      }
    }
    statefulSet.status = { updateRevision };
  }

  /**
   * An Event on `about`, as client-go's recorder makes one: a repeat of the same one counts up and moves its last
   * time, which is in whole seconds.
   */
  private recordEvent(about: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const namespace = about.metadata.namespace!;
    const time = new Date(this.clock.now()).toISOString().replace(/\.\d+Z$/, 'Z');
    const sameKey = this.eventKeys.get(`${about.metadata.uid}/${reason}/${message}`);
    const same = sameKey === undefined ? undefined : this.objects.get(sameKey);
    if (same) {
      this.put(sameKey!, { ...same, count: (same.count as number) + 1, lastTimestamp: time });
      return;
    }
    const name = `${about.metadata.name}.${(BigInt(this.clock.now()) * 1_000_000n + BigInt(++this.resourceVersion)).toString(16)}`;
    this.eventKeys.set(`${about.metadata.uid}/${reason}/${message}`, this.key('Event', namespace, name));
    this.put(this.key('Event', namespace, name), {
      apiVersion: 'v1', kind: 'Event',
      metadata: { name, namespace, uid: this.newUid(), resourceVersion: String(++this.resourceVersion), creationTimestamp: time },
      involvedObject: { kind: about.kind, namespace, name: about.metadata.name, uid: about.metadata.uid, apiVersion: about.apiVersion, resourceVersion: about.metadata.resourceVersion },
      reason, message, source: { component: 'statefulset-controller' }, firstTimestamp: time, lastTimestamp: time, count: 1, type,
      eventTime: null, reportingComponent: 'statefulset-controller', reportingInstance: '',
    });
  }

  private createPod(statefulSet: KubeObject, name: string, revision: string): void {
    const { template } = (statefulSet as unknown as StatefulSetShape).spec;
    const namespace = statefulSet.metadata.namespace!;
    const pod: KubeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace,
        uid: this.newUid(),
        labels: { ...template.metadata?.labels, 'controller-revision-hash': revision, 'statefulset.kubernetes.io/pod-name': name },
        annotations: { ...template.metadata?.annotations },
        creationTimestamp: new Date(this.clock.now()).toISOString(),
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: statefulSet.metadata.name, uid: statefulSet.metadata.uid, controller: true }],
      } as KubeObject['metadata'],
      spec: clone(template.spec),
      status: { phase: 'Pending', conditions: [{ type: 'Ready', status: 'False' }] },
    };
    const gated = this.gates(pod).length > 0;
    if (gated) (pod.status as { conditions: Json[] }).conditions.push({ type: 'PodScheduled', status: 'False', reason: 'SchedulingGated', message: 'Scheduling is blocked due to non-empty scheduling gates' });
    this.put(this.key('Pod', namespace, name), pod);
    this.recordEvent(statefulSet, 'Normal', 'SuccessfulCreate', `create Pod ${name} in StatefulSet ${statefulSet.metadata.name} successful`);
    if (!gated) this.schedule(pod);
  }

  /** The scheduler gives the pod a node, and the kubelet starts it: ready `podStartSeconds` later. */
  private schedule(pod: KubeObject): void {
    const { namespace, name, uid } = pod.metadata as { namespace: string; name: string; uid: string };
    (pod.spec as Json).nodeName = 'node-1';
    const status = pod.status as { conditions: Json[] };
    status.conditions = [...status.conditions.filter((condition) => condition.type !== 'PodScheduled'), { type: 'PodScheduled', status: 'True' }];
    this.emit('scheduled', pod);
    this.clock.at(this.clock.now() + (this.options.podStartSeconds ?? 0) * 1000, () => {
      const current = this.incarnation(namespace, name, uid);
      if (current === undefined || current.metadata.deletionTimestamp !== undefined) return;
      if (this.startStatus !== undefined) {
        current.status = clone(this.startStatus);
        this.changed(current);
        return;
      }
      current.status = {
        phase: 'Running',
        podIP: `10.0.${Math.floor(this.ips / 250)}.${(this.ips++ % 250) + 1}`,
        conditions: [{ type: 'Ready', status: 'True' }],
        containerStatuses: [{ name: 'agent', restartCount: 0, state: { running: {} } }],
      };
      this.emit('ready', current);
    });
  }
}
