// How a runner pod and its autoscaler trust each other in the registration handshake (src/core/registration.ts;
// design note: autoscaler/DESIGN.md). The pod seals its request to the autoscaler's encryption key, so what it serves
// is of no use to anyone else; the autoscaler signs the grant over that very request (pod UID, nonce, agent key) and
// every field it grants, so the pod takes no grant but the one made for it. Pure: the wire shapes, the statement that
// is signed, the key derivation's labels and the checks. node:crypto does the sums on both sides (runner/handshake.ts,
// src/clients/runner-handshake-http.ts, src/clients/autoscaler-keys.ts).
import type { RegistrationGrant, RegistrationRequest } from './registration.js';

/**
 * The autoscaler's public keys as runner pods receive them: raw 32-byte keys in base64url (a JWK's `x`). Ed25519
 * signs, X25519 receives sealed requests: one key per purpose, and small enough for an environment variable.
 */
export interface AutoscalerPublicKeys {
  signing: string;
  encryption: string;
}

/** Both key pairs: the private keys (PKCS#8 PEM) live in a Secret only the autoscaler's pod mounts. */
export interface AutoscalerKeys {
  public: AutoscalerPublicKeys;
  private: { signing: string; encryption: string };
}

/** The private keys' names in their Secret, and so their files in the autoscaler's volume. */
export const autoscalerKeyFiles = { signing: 'signing-key', encryption: 'encryption-key' } as const;

/** The variables that hand the public keys to runner pods and to the autoscaler (which checks its Secret against them). */
export const autoscalerKeyVariables = { signing: 'AZP_AUTOSCALER_SIGNING_KEY', encryption: 'AZP_AUTOSCALER_ENCRYPTION_KEY' } as const;

/** The largest body either side reads: a request of the agent's whole environment fits many times over. */
export const handshakeBodyLimit = 64 * 1024;

/** What a runner pod serves: its request, sealed to the autoscaler's X25519 key (ECIES: X25519, HKDF-SHA256, AES-256-GCM). */
export interface SealedRequest {
  version: 1;
  /** The pod's one-time X25519 public key, base64url. */
  key: string;
  /** AES-GCM's 12-byte IV, base64url. */
  iv: string;
  /** The request's JSON, encrypted, its 16-byte tag appended; base64url. */
  data: string;
}

/** What the autoscaler posts: the grant and its Ed25519 signature over grantStatement (base64url). */
export interface SignedGrant {
  grant: RegistrationGrant;
  signature: string;
}

const rawKeyPattern = /^[A-Za-z0-9_-]{43}$/;
const base64url = /^[A-Za-z0-9_-]+$/;

/** A raw 32-byte public key in base64url, as autoscalerKeyVariables carry them. */
export function rawKeyProblem(value: string): string | undefined {
  return rawKeyPattern.test(value) ? undefined : `must be a 32-byte key in base64url (43 characters); got '${value.slice(0, 60)}'`;
}

/** The fresh random value a pod puts in each request (32 bytes, base64url): a grant for another request names another. */
export function nonceProblem(value: unknown): string | undefined {
  return typeof value === 'string' && rawKeyPattern.test(value) ? undefined : 'its nonce is not 32 bytes in base64url';
}

/** The key derivation's inputs: bound to both public keys, and to this use alone. */
export function sealContext(senderKey: string, recipientKey: string): { salt: string; info: string } {
  return { salt: `${senderKey}.${recipientKey}`, info: 'azure-devops-runner handshake request v1' };
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Why a GET's answer is not a sealed request. */
export function sealedRequestProblem(value: unknown): string | undefined {
  if (!isObject(value) || value.version !== 1) return 'it is not a sealed registration request (version 1)';
  if (typeof value.key !== 'string' || rawKeyProblem(value.key) !== undefined) return 'its sender key is not a raw X25519 key';
  if (typeof value.iv !== 'string' || !/^[A-Za-z0-9_-]{16}$/.test(value.iv)) return 'its IV is not 12 bytes';
  if (typeof value.data !== 'string' || !base64url.test(value.data) || value.data.length < 23) return 'its data is not base64url';
  return undefined;
}

/**
 * Every field of a grant and its type: the statement signs them all, in this order, and the pod takes no other. An
 * optional one is signed as its name and value when present, and not at all when absent: a grant without it is signed
 * as before it existed, so pods and autoscalers of either side of its introduction still agree.
 */
const grantFields: Record<keyof RegistrationGrant, 'integer' | 'string' | 'optional string'> = {
  agentId: 'integer', agentName: 'string', poolId: 'integer', poolName: 'string', serverUrl: 'string', clientId: 'string',
  authorizationUrl: 'string', oauthEndpointUrl: 'string', noticeUrl: 'optional string',
};

/** Why a POST's body is not a signed grant of the expected shape (checked before its signature). */
export function signedGrantProblem(value: unknown): string | undefined {
  if (!isObject(value) || !isObject(value.grant) || typeof value.signature !== 'string') return 'it is not a signed grant ({ grant, signature })';
  if (!/^[A-Za-z0-9_-]{86}$/.test(value.signature)) return 'its signature is not an Ed25519 signature in base64url';
  const { grant } = value;
  for (const name of Object.keys(grant)) if (!Object.hasOwn(grantFields, name)) return `its grant has a field no signature covers: ${name}`;
  for (const [name, type] of Object.entries(grantFields)) {
    const field = grant[name];
    if (type === 'optional string' && field === undefined) continue;
    if (type === 'integer' ? !Number.isSafeInteger(field) : typeof field !== 'string') return `its grant's ${name} is not ${type === 'integer' ? 'an integer' : 'a string'}`;
  }
  return undefined;
}

/**
 * The exact text the autoscaler signs and the pod verifies: the pod's UID, the nonce and the agent's public key from
 * the request being granted, then every field of the grant. JSON of an array: one canonical form for both sides.
 */
export function grantStatement(grant: RegistrationGrant, request: Pick<RegistrationRequest, 'podUid' | 'nonce' | 'publicKey'>): string {
  return JSON.stringify([
    'azure-devops-runner grant v1',
    request.podUid,
    request.nonce,
    request.publicKey.exponent,
    request.publicKey.modulus,
    ...Object.entries(grantFields).flatMap(([name, type]): unknown[] => {
      const field = grant[name as keyof RegistrationGrant];
      if (type !== 'optional string') return [field];
      return field === undefined ? [] : [[name, field]];
    }),
  ]);
}
