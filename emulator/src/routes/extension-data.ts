// Extension data service: collections of JSON documents with __etag optimistic concurrency (Default/Current and User/Me scopes).
import { randomUUID } from 'node:crypto';
import { parseJsonBody, reply, sendEmpty, VssError, type Ctx } from '../http.js';
import type { Route } from '../router.js';
import type { ExtensionDocument, Store } from '../store.js';

const BASE = '/{org}/_apis/ExtensionManagement/InstalledExtensions/{publisher}/{extension}/Data/Scopes/{scopeType}/{scopeValue}/Collections/{collection}/Documents';
const NAMESPACE = 'Microsoft.VisualStudio.Services.ExtensionManagement.WebApi';
const READ = { scopes: ['vso.extension.data'] };
const WRITE = { scopes: ['vso.extension.data_write'] };

/** The collection key; `User/Me` resolves to the calling identity so each user sees their own documents. */
function collectionKey(ctx: Ctx): string {
  const { publisher, extension, scopeType, collection } = ctx.params;
  let scopeValue = ctx.params.scopeValue;
  if (scopeType.toLowerCase() === 'user' && scopeValue.toLowerCase() === 'me') {
    const principal = ctx.principal;
    scopeValue = principal?.kind === 'pat' ? principal.user : principal?.kind === 'sp' ? principal.clientId : 'anonymous';
  }
  return [publisher, extension, scopeType, scopeValue, collection].join('/').toLowerCase();
}

function existing(store: Store, ctx: Ctx): Map<string, ExtensionDocument> {
  const collection = store.collections.get(collectionKey(ctx));
  if (!collection) {
    throw new VssError(404, 'DocumentCollectionDoesNotExistException', `The collection ${ctx.params.collection} does not exist.`, NAMESPACE);
  }
  return collection;
}

function documentNotFound(id: string): VssError {
  return new VssError(404, 'DocumentDoesNotExistException', `The document ${id} does not exist.`, NAMESPACE);
}

/** Writes a document: `__etag` must match the stored one unless it is -1 (last write wins) or the document is new. */
function write(collection: Map<string, ExtensionDocument>, incoming: Record<string, unknown>, id: string): ExtensionDocument {
  const current = collection.get(id.toLowerCase());
  const etag = incoming.__etag;
  if (current && etag !== undefined && etag !== -1 && etag !== current.__etag) {
    throw new VssError(400, 'InvalidDocumentVersionException',
      `The document ${id} has been modified: expected version ${String(etag)} but the current version is ${current.__etag}.`, NAMESPACE);
  }
  const document: ExtensionDocument = { ...incoming, id, __etag: (current?.__etag ?? 0) + 1 };
  collection.set(id.toLowerCase(), document);
  return document;
}

function body(ctx: Ctx): Record<string, unknown> {
  const parsed = parseJsonBody<unknown>(ctx);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new VssError(400, 'ArgumentException', 'A document must be a JSON object.', 'System');
  }
  return parsed as Record<string, unknown>;
}

function ensure(store: Store, ctx: Ctx): Map<string, ExtensionDocument> {
  const key = collectionKey(ctx);
  const collection = store.collections.get(key) ?? new Map<string, ExtensionDocument>();
  store.collections.set(key, collection);
  return collection;
}

export const extensionDataRoutes: Route[] = [
  {
    method: 'GET', pattern: BASE, access: READ, version: undefined,
    handle(ctx, store) {
      reply(ctx, 200, [...existing(store, ctx).values()]);
    },
  },
  {
    method: 'GET', pattern: `${BASE}/{documentId}`, access: READ, version: undefined,
    handle(ctx, store) {
      const document = existing(store, ctx).get(ctx.params.documentId.toLowerCase());
      if (!document) throw documentNotFound(ctx.params.documentId);
      reply(ctx, 200, document);
    },
  },
  {
    method: 'POST', pattern: BASE, access: WRITE, version: undefined,
    handle(ctx, store) {
      const incoming = body(ctx);
      const id = typeof incoming.id === 'string' && incoming.id !== '' ? incoming.id : randomUUID();
      const collection = ensure(store, ctx);
      if (collection.has(id.toLowerCase())) {
        throw new VssError(409, 'DocumentExistsException', `A document with id ${id} already exists.`, NAMESPACE);
      }
      reply(ctx, 200, write(collection, { ...incoming, __etag: undefined }, id));
    },
  },
  {
    method: 'PUT', pattern: BASE, access: WRITE, version: undefined,
    handle(ctx, store) {
      const incoming = body(ctx);
      const id = typeof incoming.id === 'string' && incoming.id !== '' ? incoming.id : randomUUID();
      reply(ctx, 200, write(ensure(store, ctx), incoming, id));
    },
  },
  {
    method: 'PATCH', pattern: BASE, access: WRITE, version: undefined,
    handle(ctx, store) {
      const incoming = body(ctx);
      const id = String(incoming.id ?? '');
      const collection = existing(store, ctx);
      if (!collection.has(id.toLowerCase())) throw documentNotFound(id);
      reply(ctx, 200, write(collection, incoming, id));
    },
  },
  {
    method: 'DELETE', pattern: `${BASE}/{documentId}`, access: WRITE, version: undefined,
    handle(ctx, store) {
      const collection = existing(store, ctx);
      if (!collection.delete(ctx.params.documentId.toLowerCase())) throw documentNotFound(ctx.params.documentId);
      sendEmpty(ctx.res, 204);
    },
  },
];
