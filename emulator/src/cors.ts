// Cross-origin calls as the service answers them: the hub's page comes from the extension's CDN origin and calls the
// organisation's origin. Microsoft's docs (integrate/concepts/cross-origin-resource-sharing.md) say only that CORS is
// supported when each request carries its credentials in a header; the header set below is a guess (see README).
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Response headers a cross-origin page may read (rate limiting, continuation, correlation). */
const EXPOSED = ['ActivityId', 'X-TFS-Session', 'X-MS-ContinuationToken', 'Retry-After', 'X-RateLimit-Resource', 'X-RateLimit-Delay',
  'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'];

/** A browser's preflight, told from area discovery (`OPTIONS _apis/{area}`) by its Access-Control-Request-Method. */
export function isPreflight(req: IncomingMessage): boolean {
  return req.method?.toUpperCase() === 'OPTIONS' && req.headers.origin !== undefined && req.headers['access-control-request-method'] !== undefined;
}

/** Answers a preflight: whatever method and headers the page asks for, from any origin, cached for an hour. */
export function answerPreflight(req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, {
    'Access-Control-Allow-Origin': req.headers.origin!,
    'Access-Control-Allow-Methods': req.headers['access-control-request-method']!,
    ...(req.headers['access-control-request-headers'] ? { 'Access-Control-Allow-Headers': req.headers['access-control-request-headers'] } : {}),
    'Access-Control-Max-Age': '3600',
    Vary: 'Origin',
    'Content-Length': '0',
  });
  res.end();
}

/** Marks an answer to a cross-origin call as readable by the calling page (set before the answer is written). */
export function allowOrigin(req: IncomingMessage, res: ServerResponse): void {
  if (req.headers.origin === undefined) return;
  res.setHeader('Access-Control-Allow-Origin', req.headers.origin);
  res.setHeader('Access-Control-Expose-Headers', EXPOSED.join(', '));
  res.setHeader('Vary', 'Origin');
}

/**
 * A 401 goes out without them: extension authors report that the browser blocks the service's 401 answers as missing
 * Access-Control-Allow-Origin (microsoft/azure-devops-extension-api#100, #68; azure-devops-extension-sample#41), so a
 * page sees a failed request, not the status.
 */
export function withholdOrigin(res: ServerResponse): void {
  for (const name of ['Access-Control-Allow-Origin', 'Access-Control-Expose-Headers']) res.removeHeader(name);
}
