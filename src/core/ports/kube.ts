// The Kubernetes client as the core sees it: a few verbs on plain objects. Implemented over HTTPS in src/clients/kube-http.ts.

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  resourceVersion?: string;
  generation?: number;
  /** The objects it belongs to: Kubernetes removes it once all of them are gone. */
  ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }>;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/**
 * An error answered by the API server, with its HTTP status and Status reason (e.g. 403 Forbidden); status 0: no
 * answer. `details`: what the Status names, e.g. { kind: 'namespaces', name } for a namespace it did not find.
 */
export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    /** `fields`: the fields an invalid request (422) named, from the Status' causes. */
    readonly details: { kind?: string; name?: string; fields?: string[] } = {},
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

/**
 * Whether a write aimed at one incarnation (its UID in the patch) missed because that object is gone or was replaced
 * under its name. The API server answers a patch whose UID differs with 422 Invalid on metadata.uid (the field is
 * immutable), not with a 409: a UID in a patch is no precondition the way one in DeleteOptions is.
 */
export function replacedSince(error: unknown): boolean {
  if (!(error instanceof KubeApiError)) return false;
  return error.status === 404 || (error.status === 422 && (error.details.fields ?? []).includes('metadata.uid'));
}

export interface KubeClient {
  /** Server-side apply under one field manager; `dryRun` asks the server what it would store, changing nothing. */
  apply(object: KubeObject, options: { fieldManager: string; dryRun?: boolean }): Promise<KubeObject>;
  /**
   * A JSON merge patch, for fields another manager does not own (replica count, pod annotations). A
   * `metadata.resourceVersion` in the patch is a precondition: a KubeApiError 409 when the object changed since.
   */
  mergePatch(ref: ObjectRef, patch: object, fieldManager: string): Promise<KubeObject>;
  /** Creates the object; a KubeApiError 409 (AlreadyExists) when the name is taken: of two creators, one wins. */
  create(object: KubeObject, fieldManager: string): Promise<KubeObject>;
  get(ref: ObjectRef): Promise<KubeObject | undefined>;
  /**
   * Sets a workload's replica count through its scale subresource (all an autoscaler may change); with
   * `resourceVersion`, only if the workload has not changed since it was read (a KubeApiError 409 otherwise).
   */
  scale(ref: ObjectRef, replicas: number, fieldManager: string, resourceVersion?: string): Promise<void>;
  /** With `fieldSelector` (e.g. `involvedObject.name=x` for Events), only the objects whose fields match. */
  list(apiVersion: string, kind: string, namespace: string, labelSelector?: string, fieldSelector?: string): Promise<KubeObject[]>;
  /**
   * Deletes the object; with `uid`, only that incarnation of the name (a pod its StatefulSet has since recreated is
   * left alone); with `gracePeriodSeconds`, instead of the object's own grace period. False when there was nothing to
   * delete.
   */
  delete(ref: ObjectRef, uid?: string, gracePeriodSeconds?: number): Promise<boolean>;
  /**
   * Lists, then follows every change until the server ends the stream (it does every few minutes) or `signal` aborts:
   * `onChange` gets the whole current list after the list and after each change. The caller calls it again to go on.
   */
  watch(apiVersion: string, kind: string, namespace: string, labelSelector: string, onChange: (items: KubeObject[]) => void, signal: AbortSignal): Promise<void>;
  /** The API server's version, e.g. { major: 1, minor: 36 }. */
  version(): Promise<{ major: number; minor: number; gitVersion: string }>;
}

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}
