// The agent double's Azure DevOps client: location discovery, api-version in headers, Basic/OAuth/Bearer, VSS error typeKeys.
import { randomUUID, sign, type KeyObject } from 'node:crypto';

export type Credential =
  | { kind: 'basic'; user: string; password: string }
  | { kind: 'bearer'; token: string }
  /** After registration: a client-assertion JWT signed with the agent key buys a Bearer token on the first 401. */
  | { kind: 'oauth'; clientId: string; authorizationUrl: string; oauthEndpointUrl: string; key: KeyObject };

/** A non-2xx answer, carrying the service's `typeKey` (the agent branches on it, never on the status). */
export class VssHttpError extends Error {
  constructor(readonly status: number, readonly typeKey: string, message: string) {
    super(message);
  }
}

export const LOCATION = {
  pools: 'a8c47e17-4d56-4a56-92bb-de7ea7dc65be',
  agents: 'e298ef32-5878-4cab-993c-043836571f42',
  sessions: '134e239e-2df3-4794-a6f6-24f1f19ec8dc',
  messages: 'c3a054f6-7a8a-49c0-944e-3a8e5d7adfd7',
  jobrequests: 'fc825784-c92a-4299-9221-998a02d1b54f',
  logs: '46f5667d-263a-4684-91b1-dff7fdcf64e2',
};

/** api-version the agent's generated client asks for (agent-wire-protocol.md §1.2). */
const API_VERSION = '5.1-preview.1';
const RETRIES = 3;

interface Location {
  area: string;
  resourceName: string;
  routeTemplate: string;
}

export interface RequestOptions {
  routeValues?: Record<string, string | number>;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Raw text body (logs), sent as application/octet-stream. */
  text?: string;
  signal?: AbortSignal;
}

/** The client-assertion JWT the agent sends to its token endpoint (RS256, 5 minutes). */
export function clientAssertion(clientId: string, audience: string, key: KeyObject, now = Date.now()): string {
  const seconds = Math.floor(now / 1000);
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${part({ typ: 'JWT', alg: 'RS256' })}.${part({ sub: clientId, jti: randomUUID(), iss: clientId, aud: audience, nbf: seconds, exp: seconds + 300 })}`;
  return `${unsigned}.${sign('sha256', Buffer.from(unsigned), key).toString('base64url')}`;
}

const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve) => {
  const timer = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
});

export class VssClient {
  private locations = new Map<string, Location>();
  private accessToken?: string;
  readonly session = randomUUID();

  constructor(readonly serverUrl: string, private readonly credential: Credential, private readonly userAgent: string) {}

  /** The location handshake every VssConnection starts with; reads the route templates from the service definitions. */
  async connect(signal?: AbortSignal): Promise<Record<string, unknown>> {
    const data = await this.raw('GET', `${this.serverUrl}/_apis/connectionData?connectOptions=1&lastChangeId=-1&lastChangeId64=-1`, undefined, signal) as {
      locationServiceData?: { serviceDefinitions?: { identifier: string; serviceType: string; displayName: string; relativePath?: string; resourceVersion?: number }[] };
    };
    for (const definition of data.locationServiceData?.serviceDefinitions ?? []) {
      if ((definition.resourceVersion ?? 0) > 0 && definition.relativePath) {
        this.locations.set(definition.identifier.toLowerCase(), { area: definition.serviceType, resourceName: definition.displayName, routeTemplate: definition.relativePath });
      }
    }
    return data;
  }

  /** Same server and locations, another credential (the worker's job token). */
  withCredential(credential: Credential): VssClient {
    const client = new VssClient(this.serverUrl, credential, this.userAgent);
    client.locations = this.locations;
    return client;
  }

  /** Builds a URL from a route template: {area}/{resource} and route values; a segment whose value is missing disappears. */
  url(locationId: string, routeValues: Record<string, string | number> = {}, query: RequestOptions['query'] = {}): string {
    const location = this.locations.get(locationId);
    if (!location) throw new Error(`The server does not publish resource location ${locationId}.`);
    const values: Record<string, string> = { area: location.area, resource: location.resourceName };
    for (const [key, value] of Object.entries(routeValues)) values[key] = String(value);
    const path = location.routeTemplate.split('/')
      .map((segment) => segment.replace(/\{(\w+)\}/g, (_, name: string) => (values[name] === undefined ? '' : encodeURIComponent(values[name]))))
      .filter((segment) => segment !== '').join('/');
    const search = Object.entries(query).filter(([, value]) => value !== undefined)
      .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(typeof value === 'boolean' ? (value ? 'True' : 'False') : String(value))}`);
    return `${this.serverUrl}/${path}${search.length ? `?${search.join('&')}` : ''}`;
  }

  async send<T>(method: string, locationId: string, options: RequestOptions = {}): Promise<T | undefined> {
    return this.raw(method, this.url(locationId, options.routeValues, options.query), options, options.signal) as Promise<T | undefined>;
  }

  private authorization(): string | undefined {
    if (this.credential.kind === 'basic') return `Basic ${Buffer.from(`${this.credential.user}:${this.credential.password}`).toString('base64')}`;
    if (this.credential.kind === 'bearer') return `Bearer ${this.credential.token}`;
    return this.accessToken ? `Bearer ${this.accessToken}` : undefined;
  }

  private async fetchToken(): Promise<void> {
    if (this.credential.kind !== 'oauth') return;
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: clientAssertion(this.credential.clientId, this.credential.authorizationUrl, this.credential.key),
    });
    const response = await fetch(this.credential.oauthEndpointUrl, {
      method: 'POST', headers: { Accept: 'application/json', 'Content-Type': 'application/x-www-form-urlencoded' }, body: body.toString(),
    });
    const json = await response.json() as { access_token?: string; error?: string; error_description?: string };
    if (!response.ok || !json.access_token) throw new VssHttpError(401, 'VssOAuthTokenRequestException', `${json.error ?? response.status}: ${json.error_description ?? ''}`);
    this.accessToken = json.access_token;
  }

  /** One call with the VSS client's habits: retries on 5xx/network errors, honours Retry-After on 429, OAuth on a Bearer challenge. */
  private async raw(method: string, url: string, options: RequestOptions = {}, signal?: AbortSignal): Promise<unknown> {
    let tokenFetched = false;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = {
        Accept: `application/json; api-version=${API_VERSION}`, 'User-Agent': this.userAgent, 'X-TFS-FedAuthRedirect': 'Suppress',
        'X-TFS-Session': this.session, 'X-VSS-E2EID': randomUUID(),
      };
      const auth = this.authorization();
      if (auth) headers.Authorization = auth;
      let body: string | undefined;
      if (options.text !== undefined) {
        headers['Content-Type'] = `application/octet-stream; api-version=${API_VERSION}`;
        body = options.text;
      } else if (options.body !== undefined) {
        headers['Content-Type'] = `application/json; charset=utf-8; api-version=${API_VERSION}`;
        body = JSON.stringify(options.body);
      }
      let response: Response;
      try {
        response = await fetch(url, { method, headers, body, signal });
      } catch (error) {
        if (signal?.aborted || attempt >= RETRIES) throw error;
        await sleep(1000 * 2 ** attempt, signal);
        continue;
      }
      if (response.status === 401 && this.credential.kind === 'oauth' && !tokenFetched
        && /bearer/i.test(response.headers.get('www-authenticate') ?? '')) {
        await response.arrayBuffer();
        tokenFetched = true;
        await this.fetchToken();
        attempt--;
        continue;
      }
      const retryable = response.status === 429 || [500, 502, 503, 504].includes(response.status);
      if (retryable && attempt < RETRIES) {
        await response.arrayBuffer();
        const retryAfter = Number(response.headers.get('retry-after'));
        await sleep(Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : 1000 * 2 ** attempt, signal);
        continue;
      }
      const text = await response.text();
      if (!response.ok) {
        let typeKey = response.status === 401 ? 'VssUnauthorizedException' : 'VssServiceResponseException';
        let message = `HTTP ${response.status}`;
        try {
          const error = JSON.parse(text) as { typeKey?: string; message?: string };
          typeKey = error.typeKey ?? typeKey;
          message = error.message ?? message;
        } catch { /* not JSON */ }
        throw new VssHttpError(response.status, typeKey, message);
      }
      return text === '' ? undefined : JSON.parse(text);
    }
  }
}
