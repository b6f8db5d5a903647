// Stands in for Azure DevOps around the hub in a real browser: a host page that frames the BUILT hub and answers the SDK's
// XDM handshake and service calls. As in production, the page is served from one origin (the extension's CDN) and calls
// the organisation on another (the emulator), so every REST call is a CORS request. The local trial (npm start) serves
// the hub with it, and the hub's browser test and benchmark too.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import extensionManifest from '../vss-extension.json' with { type: 'json' };

/** The extension whose data storage the hub reads the pool snapshots from. */
export const extension = { publisher: extensionManifest.publisher, id: extensionManifest.id };

const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.woff': 'font/woff', '.woff2': 'font/woff2', '.png': 'image/png',
};

/** Azure DevOps' dark theme, as the host hands it over (CSS variable name → value), reduced to what the page's components use. */
export const darkTheme: Record<string, string> = {
  'background-color': 'rgba(32, 31, 30, 1)',
  'text-primary-color': 'rgba(255, 255, 255, 0.87)',
  'text-secondary-color': 'rgba(255, 255, 255, 0.55)',
  'text-disabled-color': 'rgba(255, 255, 255, 0.38)',
  'palette-neutral-0': '32, 31, 30', 'palette-neutral-2': '41, 40, 39', 'palette-neutral-4': '50, 49, 48', 'palette-neutral-6': '59, 58, 57',
  'palette-neutral-8': '72, 70, 68', 'palette-neutral-10': '86, 84, 82', 'palette-neutral-20': '121, 119, 117', 'palette-neutral-30': '151, 149, 147',
  'palette-neutral-60': '200, 198, 196', 'palette-neutral-70': '225, 223, 221', 'palette-neutral-80': '243, 242, 241', 'palette-neutral-100': '255, 255, 255',
  'palette-black-alpha-4': '255, 255, 255, 0.04', 'palette-black-alpha-6': '255, 255, 255, 0.06', 'palette-black-alpha-8': '255, 255, 255, 0.08',
  'palette-black-alpha-10': '255, 255, 255, 0.1', 'palette-black-alpha-20': '255, 255, 255, 0.2', 'palette-black-alpha-30': '255, 255, 255, 0.3',
  'callout-background-color': 'rgba(50, 49, 48, 1)', 'component-grid-row-hover-color': 'rgba(255, 255, 255, 0.06)',
  'component-grid-cell-bottom-border-color': 'rgba(255, 255, 255, 0.1)', 'communication-foreground': 'rgba(40, 153, 245, 1)',
};

/**
 * The host page's script: XDM over postMessage as azure-devops-extension-sdk speaks it (JSON strings of
 * {id, methodName, instanceId, params, handshakeToken} and replies {id, result|error, handshakeToken}; functions in
 * results become proxies the frame calls back through "__proxyFunctions").
 */
function hostScript(config: { orgUrl: string; token: string; theme: Record<string, string> }): string {
  return `
const config = ${JSON.stringify({ ...config, extension })};
const frame = document.getElementById('hub');
const proxies = {};
let nextProxy = 1, nextMessage = 1, token;
const pending = {};
function serialize(value) {
  if (typeof value === 'function') { const id = nextProxy++; proxies['proxy' + id] = value; return { __proxyFunctionId: id, _channelId: 1 }; }
  if (value instanceof Error) return { message: value.message, name: value.name, status: value.status, serverError: value.serverError };
  if (Array.isArray(value)) return value.map(serialize);
  if (value && typeof value === 'object') { const out = {}; for (const k of Object.keys(value)) out[k] = serialize(value[k]); return out; }
  return value;
}
function post(message) { frame.contentWindow.postMessage(JSON.stringify({ ...message, handshakeToken: token }), '*'); }
// The host's data service asks as azure-devops-extension-api's clients do (Common/RestClientBase.js): bare arrays back.
async function rest(path, init = {}) {
  const accept = 'application/json;api-version=7.1-preview.1;excludeUrls=true;enumsAsNumbers=true;msDateFormat=true;noArrayWrap=true';
  const response = await fetch(config.orgUrl + '/' + path, { ...init, headers: { Authorization: 'Bearer ' + config.token, Accept: accept, 'Content-Type': 'application/json' } });
  const text = await response.text();
  if (!response.ok) { const error = new Error(text ? (JSON.parse(text).message || text) : response.statusText); error.status = response.status; throw error; }
  return text ? JSON.parse(text) : undefined;
}
function dataManager() {
  const base = (scope, collection) => '_apis/ExtensionManagement/InstalledExtensions/' + config.extension.publisher + '/' + config.extension.id +
    '/Data/Scopes/' + (scope && scope.scopeType || 'Default') + '/' + (scope && scope.scopeValue || 'Current') + '/Collections/' + encodeURIComponent(collection) + '/Documents';
  return {
    getDocuments: (collection, options) => rest(base(options, collection)),
    getDocument: (collection, id, options) => rest(base(options, collection) + '/' + encodeURIComponent(id)),
  };
}
const services = {
  'ms.vss-features.location-service': {
    getServiceLocation: async () => config.orgUrl + '/',
    getResourceAreaLocation: async () => config.orgUrl + '/',
  },
  'ms.vss-features.extension-data-service': { getExtensionDataManager: async () => dataManager() },
};
const hostControl = {
  initialHandshake: () => ({
    contributionId: config.extension.publisher + '.' + config.extension.id + '.runner-pools-hub',
    context: {
      extension: { id: config.extension.publisher + '.' + config.extension.id, publisherId: config.extension.publisher, extensionId: config.extension.id, version: '0.1.0' },
      user: { id: 'u1', name: 'reader@emulated.example', displayName: 'Pool Reader', descriptor: 'aad.reader', imageUrl: '' },
      host: { id: 'h1', name: 'emulated-org', serviceVersion: 'emulated', type: 4, isHosted: true },
      pageContext: { webContext: { project: { id: 'p1', name: 'Platform' }, team: { id: 't1', name: 'Platform Team' } }, globalization: { culture: 'en-US', theme: 'light' } },
    },
    initialConfig: {},
    themeData: config.theme,
  }),
  notifyLoadSucceeded: () => { window.hubLoaded = 'succeeded'; },
  notifyLoadFailed: (error) => { window.hubLoaded = 'failed: ' + (error && error.message); },
  getAccessToken: () => ({ token: config.token }),
  resize: () => undefined,
};
const instances = { 'DevOps.HostControl': hostControl, 'DevOps.ServiceManager': { getService: (id) => services[id] }, '__proxyFunctions': proxies };
window.addEventListener('message', async (event) => {
  if (event.source !== frame.contentWindow || typeof event.data !== 'string') return;
  const message = JSON.parse(event.data);
  if (message.handshakeToken) token = message.handshakeToken;
  if (!message.instanceId) { const wait = pending[message.id]; if (wait) { delete pending[message.id]; wait(message); } return; }
  const target = instances[message.instanceId];
  const method = target && target[message.methodName];
  if (typeof method !== 'function') { post({ id: message.id, error: { message: 'No method ' + message.instanceId + '.' + message.methodName } }); return; }
  try { post({ id: message.id, result: serialize(await method(...(message.params || []))) }); }
  catch (error) { post({ id: message.id, error: serialize(error) }); }
});
/** Switches the theme the way Azure DevOps does: the SDK client's dispatchEvent("themeChanged"). */
window.setHubTheme = (theme) => new Promise((resolve) => {
  const id = 1000000 + nextMessage++;
  pending[id] = resolve;
  post({ id, methodName: 'dispatchEvent', instanceId: 'DevOps.SdkClient', params: ['themeChanged', { detail: { data: theme } }] });
});
`;
}

export interface HubHost {
  /** The host page; `token` is what getAccessToken answers, `theme` the initial theme data. */
  pageUrl(options: { token: string; theme?: Record<string, string> }): string;
  origin: string;
  stop(): Promise<void>;
}

/**
 * Serves dist/extension/hub and the host page on `localhost` (the CDN's stand-in; on a free port unless `port` says);
 * the page's location service points the hub at `orgUrl`, the emulator's organisation on 127.0.0.1: another origin.
 */
export async function startHubHost(hubDir: string, orgUrl: string, port = 0): Promise<HubHost> {
  const pages = new Map<string, string>();
  let origin = '';

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://host');
    void (async () => {
      if (url.pathname === '/host.html') {
        const page = pages.get(url.searchParams.get('page') ?? '');
        if (!page) return void res.writeHead(404).end();
        res.writeHead(200, { 'Content-Type': types['.html'] }).end(page);
        return;
      }
      if (url.pathname.startsWith('/hub/')) {
        const file = normalize(join(hubDir, url.pathname.slice('/hub/'.length)));
        if (!file.startsWith(hubDir)) return void res.writeHead(403).end();
        try {
          const body = await readFile(file);
          res.writeHead(200, { 'Content-Type': types[extname(file)] ?? 'application/octet-stream' }).end(body);
        } catch {
          res.writeHead(404).end();
        }
        return;
      }
      res.writeHead(404).end();
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  origin = `http://localhost:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    pageUrl({ token, theme = {} }) {
      const id = String(pages.size + 1);
      pages.set(id, `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Azure DevOps (emulated host)</title>
<style>html,body{margin:0;height:100%}iframe{border:0;width:100%;height:100%;display:block}</style></head>
<body><iframe id="hub" src="/hub/runner-pools.html"></iframe><script>${hostScript({ orgUrl, token, theme })}</script></body></html>`);
      return `${origin}/host.html?page=${id}`;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
