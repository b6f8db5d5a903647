// KubeClient over the API server's REST interface. @kubernetes/client-node supplies only the kubeconfig handling
// (auth, TLS); requests are plain JSON so that no typed serializer drops fields newer than the library.
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest } from 'node:http';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeApiError, type KubeClient, type KubeObject, type ObjectRef } from '../core/ports/kube.js';

// The kinds the product touches, and their REST resource names.
const resources: Record<string, string> = {
  Namespace: 'namespaces',
  Secret: 'secrets',
  Pod: 'pods',
  ServiceAccount: 'serviceaccounts',
  ConfigMap: 'configmaps',
  StatefulSet: 'statefulsets',
  Deployment: 'deployments',
  PodDisruptionBudget: 'poddisruptionbudgets',
  Role: 'roles',
  RoleBinding: 'rolebindings',
  NetworkPolicy: 'networkpolicies',
  Lease: 'leases',
  Event: 'events',
};
const clusterScoped = new Set(['Namespace']);

export function resourcePath(ref: Omit<ObjectRef, 'name'> & { name?: string }): string {
  const resource = resources[ref.kind];
  if (resource === undefined) throw new Error(`unsupported kind ${ref.kind}`);
  const base = ref.apiVersion.includes('/') ? `/apis/${ref.apiVersion}` : `/api/${ref.apiVersion}`;
  const scope = clusterScoped.has(ref.kind) ? '' : `/namespaces/${encodeURIComponent(ref.namespace ?? 'default')}`;
  return `${base}${scope}/${resource}${ref.name === undefined ? '' : `/${encodeURIComponent(ref.name)}`}`;
}

/** Loads a kubeconfig file, or the pod's own service account when `path` is undefined. */
export function loadKubeConfig(path: string | undefined): KubeConfig {
  const config = new KubeConfig();
  if (path === undefined) config.loadFromCluster();
  else config.loadFromFile(path);
  if (config.getCurrentCluster() === null) throw new Error('the kubeconfig names no current cluster');
  return config;
}

/**
 * The cluster a person's own tools reach, found as kubectl finds it: `path`, else $KUBECONFIG (a list of files, merged),
 * else ~/.kube/config, else the pod's own service account; `context` instead of the kubeconfig's current context.
 */
export function loadUserKubeConfig(options: { path?: string; context?: string }): KubeConfig {
  const config = new KubeConfig();
  if (options.path) {
    config.loadFromFile(options.path);
  } else {
    // Without any of these the library would fall back to http://localhost:8080: say what is missing instead.
    const found = process.env.KUBECONFIG || existsSync(join(homedir(), '.kube', 'config')) || existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token');
    if (!found) throw new Error('no kubeconfig: pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config.');
    config.loadFromDefault();
  }
  if (options.context) {
    if (config.getContextObject(options.context) === null) {
      throw new Error(`the kubeconfig has no context '${options.context}' (it has ${config.getContexts().map((c) => `'${c.name}'`).join(', ') || 'none'}).`);
    }
    config.setCurrentContext(options.context);
  }
  if (config.getCurrentCluster() === null) throw new Error('the kubeconfig names no current cluster: pass --context.');
  return config;
}

export class HttpKubeClient implements KubeClient {
  private readonly server: URL;

  constructor(private readonly config: KubeConfig) {
    this.server = new URL(config.getCurrentCluster()!.server);
  }

  /** A request to the API server with the kubeconfig's credentials and TLS settings. */
  private async requestOptions(method: string, path: string, headers: Record<string, string>, extra: RequestOptions): Promise<RequestOptions> {
    const options: RequestOptions = {
      method,
      protocol: this.server.protocol,
      hostname: this.server.hostname.replace(/^\[|\]$/g, ''),
      port: this.server.port,
      path: `${this.server.pathname.replace(/\/$/, '')}${path}`,
      headers: { accept: 'application/json', ...headers },
      ...extra,
    };
    await this.config.applyToHTTPSOptions(options);
    return options;
  }

  private async send(method: string, path: string, body?: object, contentType = 'application/json'): Promise<{ status: number; json: unknown }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    // The length, always: Node sends a DELETE's body with neither it nor chunked encoding, and the API server then reads
    // no body, so a delete's UID precondition and grace period were silently dropped.
    const headers: Record<string, string> = payload === undefined ? {} : { 'content-type': contentType, 'content-length': String(Buffer.byteLength(payload)) };
    const options = await this.requestOptions(method, path, headers, { timeout: 30_000 });
    const send = this.server.protocol === 'https:' ? httpsRequest : httpRequest;
    const unreachable = (why: string) => new KubeApiError(0, 'Unreachable', `cannot reach the cluster at ${this.server.origin}: ${why}`);
    return new Promise((resolve, reject) => {
      const req = send(options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        // A connection that drops mid-answer ends neither the request nor the answer: without this the call never settles.
        res.on('error', (error) => reject(unreachable(error.message)));
        res.on('close', () => {
          if (!res.complete) reject(unreachable('the connection closed before the answer was complete'));
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text === '' ? undefined : JSON.parse(text);
          } catch {
            json = { message: text };
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
      });
      req.on('timeout', () => req.destroy(new Error(`no answer from ${this.server.origin} within 30 s`)));
      req.on('error', (error) => reject(unreachable(error.message)));
      req.end(payload);
    });
  }

  /** GETs a stream of newline-separated JSON documents (a watch), calling `onLine` for each; resolves when it ends. */
  private async stream(path: string, onLine: (json: unknown) => void, signal: AbortSignal): Promise<void> {
    const options = await this.requestOptions('GET', path, {}, { signal });
    const send = this.server.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(options, (res) => {
        if ((res.statusCode ?? 0) >= 300) {
          res.resume();
          reject(new KubeApiError(res.statusCode ?? 0, String(res.statusCode), `GET ${path}: ${res.statusCode}`));
          return;
        }
        let buffered = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffered += chunk;
          for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
            const line = buffered.slice(0, end).trim();
            buffered = buffered.slice(end + 1);
            if (line !== '') onLine(JSON.parse(line));
          }
        });
        res.on('error', () => resolve());
        res.on('close', () => resolve());
      });
      // No answer within 30 s, or silence for longer than the server's own timeout: the stream is dead.
      req.setTimeout(360_000, () => req.destroy());
      req.on('error', (error) => (signal.aborted ? resolve() : reject(new KubeApiError(0, 'Unreachable', `cannot reach the cluster at ${this.server.origin}: ${error.message}`))));
      req.end();
    });
  }

  private async call(method: string, path: string, body?: object, contentType?: string): Promise<unknown> {
    const { status, json } = await this.send(method, path, body, contentType);
    if (status >= 200 && status < 300) return json;
    const error = (json ?? {}) as { reason?: string; message?: string; details?: { kind?: unknown; name?: unknown; causes?: unknown } };
    const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
    const causes = Array.isArray(error.details?.causes) ? (error.details.causes as Array<{ field?: unknown }>) : [];
    const fields = causes.map((cause) => text(cause.field)).filter((field) => field !== undefined);
    const details = { kind: text(error.details?.kind), name: text(error.details?.name), ...(fields.length > 0 && { fields }) };
    throw new KubeApiError(status, error.reason ?? String(status), `${method} ${path}: ${status} ${error.reason ?? ''}: ${error.message ?? ''}`.trim(), details);
  }

  async apply(object: KubeObject, options: { fieldManager: string; dryRun?: boolean }): Promise<KubeObject> {
    const query = new URLSearchParams({ fieldManager: options.fieldManager, force: 'true' });
    if (options.dryRun) query.set('dryRun', 'All');
    const path = `${resourcePath({ ...object, namespace: object.metadata.namespace, name: object.metadata.name })}?${query}`;
    return (await this.call('PATCH', path, object, 'application/apply-patch+yaml')) as KubeObject;
  }

  async mergePatch(ref: ObjectRef, patch: object, fieldManager: string): Promise<KubeObject> {
    const path = `${resourcePath(ref)}?${new URLSearchParams({ fieldManager })}`;
    return (await this.call('PATCH', path, patch, 'application/merge-patch+json')) as KubeObject;
  }

  async scale(ref: ObjectRef, replicas: number, fieldManager: string, resourceVersion?: string): Promise<void> {
    const path = `${resourcePath(ref)}/scale?${new URLSearchParams({ fieldManager })}`;
    // The Scale shares its workload's resourceVersion: in the patch, it is the API server's precondition.
    await this.call('PATCH', path, { ...(resourceVersion !== undefined && { metadata: { resourceVersion } }), spec: { replicas } }, 'application/merge-patch+json');
  }

  async create(object: KubeObject, fieldManager: string): Promise<KubeObject> {
    const path = `${resourcePath({ ...object, namespace: object.metadata.namespace })}?${new URLSearchParams({ fieldManager })}`;
    return (await this.call('POST', path, object)) as KubeObject;
  }

  async get(ref: ObjectRef): Promise<KubeObject | undefined> {
    try {
      return (await this.call('GET', resourcePath(ref))) as KubeObject;
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) return undefined;
      throw error;
    }
  }

  async list(apiVersion: string, kind: string, namespace: string, labelSelector?: string, fieldSelector?: string): Promise<KubeObject[]> {
    const selectors = new URLSearchParams({ ...(labelSelector && { labelSelector }), ...(fieldSelector && { fieldSelector }) });
    const query = selectors.size > 0 ? `?${selectors}` : '';
    const result = (await this.call('GET', `${resourcePath({ apiVersion, kind, namespace })}${query}`)) as { items: KubeObject[] };
    return result.items;
  }

  async watch(apiVersion: string, kind: string, namespace: string, labelSelector: string, onChange: (items: KubeObject[]) => void, signal: AbortSignal): Promise<void> {
    const base = resourcePath({ apiVersion, kind, namespace });
    const listed = (await this.call('GET', `${base}?${new URLSearchParams({ labelSelector })}`)) as { items: KubeObject[]; metadata: { resourceVersion: string } };
    const items = new Map(listed.items.map((item) => [item.metadata.uid ?? item.metadata.name, item]));
    onChange([...items.values()]);
    const query = new URLSearchParams({ labelSelector, watch: 'true', resourceVersion: listed.metadata.resourceVersion, timeoutSeconds: '300' });
    let gone = false;
    await this.stream(`${base}?${query}`, (json) => {
      const event = json as { type: string; object: KubeObject };
      // 410 Gone (the version is too old) comes as an ERROR event: the caller lists again.
      if (event.type === 'ERROR') gone = true;
      if (gone || event.type === 'BOOKMARK') return;
      const key = event.object.metadata.uid ?? event.object.metadata.name;
      if (event.type === 'DELETED') items.delete(key);
      else items.set(key, event.object);
      onChange([...items.values()]);
    }, signal);
  }

  async delete(ref: ObjectRef, uid?: string, gracePeriodSeconds?: number): Promise<boolean> {
    const options = { ...(uid !== undefined && { preconditions: { uid } }), ...(gracePeriodSeconds !== undefined && { gracePeriodSeconds }) };
    try {
      await this.call('DELETE', resourcePath(ref), Object.keys(options).length > 0 ? options : undefined);
      return true;
    } catch (error) {
      // 404: already gone; 409 (with a uid): the name now belongs to a newer object.
      if (error instanceof KubeApiError && (error.status === 404 || (error.status === 409 && uid !== undefined))) return false;
      throw error;
    }
  }

  async version(): Promise<{ major: number; minor: number; gitVersion: string }> {
    const info = (await this.call('GET', '/version')) as { major: string; minor: string; gitVersion: string };
    return { major: Number(info.major), minor: parseInt(info.minor, 10), gitVersion: info.gitVersion };
  }
}
