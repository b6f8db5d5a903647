// HTTP plumbing shared by the routes: the request context, JSON answers, the service's error shape, api-version rules.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from './types.js';
import { sendWire, type WireFormat } from './wire.js';

export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  /** Path without the query, percent-decoded per segment by the router. */
  path: string;
  query: URLSearchParams;
  params: Record<string, string>;
  principal?: Principal;
  /** Origin the client used (http://127.0.0.1:port), for URLs in answers. */
  origin: string;
  /** The organisation URL, e.g. http://127.0.0.1:8090/emulated-org. */
  orgUrl: string;
  body: Buffer;
  /** The answer format the client asked for in its Accept header. */
  format: WireFormat;
}

/** An error the service answers with `{message, typeKey, ...}`; routes throw it. */
export class VssError extends Error {
  constructor(
    readonly status: number,
    readonly typeKey: string,
    message: string,
    readonly namespace = 'Microsoft.TeamFoundation.DistributedTask.WebApi',
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  toBody(): Record<string, unknown> {
    return {
      $id: '1',
      innerException: null,
      message: this.message,
      typeName: `${this.namespace}.${this.typeKey}, ${this.namespace.split('.').slice(0, 4).join('.')}`,
      typeKey: this.typeKey,
      errorCode: 0,
      eventId: 3000,
    };
  }
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Length': '0', ...headers });
  res.end();
}

/** A JSON answer in the format the client asked for: an array is a list answer ({count, value} unless noArrayWrap). */
export function reply(ctx: Ctx, status: number, value: unknown, headers: Record<string, string> = {}): void {
  sendWire(ctx.res, ctx.format, status, value, headers);
}

export function parseJsonBody<T>(ctx: Ctx): T {
  if (ctx.body.length === 0) throw new VssError(400, 'ArgumentNullException', 'Value cannot be null.\r\nParameter name: body', 'System');
  try {
    return JSON.parse(ctx.body.toString('utf8')) as T;
  } catch {
    throw new VssError(400, 'InvalidRequestContentException', 'The request content is not valid JSON.', 'Microsoft.VisualStudio.Services.WebApi');
  }
}

/** Reads a query flag the way the service binds booleans ("true"/"True"). */
export function flag(query: URLSearchParams, name: string): boolean {
  return (queryValue(query, name) ?? '').toLowerCase() === 'true';
}

/** Query parameters are matched case-insensitively by the service. */
export function queryValue(query: URLSearchParams, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of query) if (key.toLowerCase() === wanted) return value;
  return undefined;
}

export interface ApiVersion {
  major: number;
  minor: number;
  preview: boolean;
}

/** Newest version this emulator (like the service it imitates) knows. */
export const LATEST_API_VERSION = { major: 7, minor: 2 };

const VERSION_TEXT = /^(\d+)\.(\d+)(-preview(\.\d+)?)?$/i;

/** The api-version from the query or from the Accept / Content-Type header parameter (the form the agent uses). */
export function requestedApiVersion(req: IncomingMessage, query: URLSearchParams): string | undefined {
  const fromQuery = queryValue(query, 'api-version');
  if (fromQuery !== undefined) return fromQuery;
  for (const header of [req.headers.accept, req.headers['content-type']]) {
    const match = /api-version\s*=\s*([^;,\s]+)/i.exec(header ?? '');
    if (match) return match[1];
  }
  return undefined;
}

/**
 * Checks the api-version against a resource released at `released` (undefined = preview only), as the service does:
 * GET may omit it, other methods may not; above the latest is out of range; an unreleased version needs -preview.
 */
export function checkApiVersion(method: string, text: string | undefined, released: string | undefined): void {
  const namespace = 'Microsoft.VisualStudio.Services.WebApi';
  if (text === undefined) {
    if (method === 'GET') return;
    throw new VssError(400, 'VssVersionNotSpecifiedException',
      `No api-version was supplied for the "${method}" request. The version must be supplied either as part of the Accept header (e.g. "application/json; api-version=1.0") or as a query parameter (e.g. '?api-version=1.0').`, namespace);
  }
  const match = VERSION_TEXT.exec(text.trim());
  if (!match) throw new VssError(400, 'VssInvalidApiVersionException', `The api-version '${text}' is not valid.`, namespace);
  const version = { major: Number(match[1]), minor: Number(match[2]), preview: match[3] !== undefined };
  if (compare(version, LATEST_API_VERSION) > 0) {
    throw new VssError(400, 'VssVersionOutOfRangeException',
      `The requested REST API version of ${version.major}.${version.minor} is out of range for this server. The latest REST API version this server supports is ${LATEST_API_VERSION.major}.${LATEST_API_VERSION.minor}.`, namespace);
  }
  const releasedVersion = released === undefined ? { major: 0, minor: 0 } : parseRelease(released);
  if (!version.preview && compare(version, releasedVersion) > 0) {
    throw new VssError(400, 'VssInvalidPreviewVersionException',
      `The requested version "${version.major}.${version.minor}" of the resource is under preview. The -preview flag must be supplied in the api-version for such requests. For example: "${version.major}.${version.minor}-preview"`, namespace);
  }
}

function parseRelease(text: string): { major: number; minor: number } {
  const [major, minor] = text.split('.').map(Number);
  return { major, minor };
}

function compare(a: { major: number; minor: number }, b: { major: number; minor: number }): number {
  return a.major - b.major || a.minor - b.minor;
}

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
