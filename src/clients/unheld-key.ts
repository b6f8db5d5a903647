// A public key whose private half is dropped as soon as it is made: what a retired registration is left holding
// (src/core/single-use.ts). One per process serves every placeholder, since nobody holds its private half. RSA 2048,
// e = 65537, in the agent's RSAParameters form (base64 of the big-endian numbers).
import { generateKeyPairSync } from 'node:crypto';
import type { PublicKey } from '../core/registration.js';

let made: PublicKey | undefined;

export function unheldKey(): PublicKey {
  if (made === undefined) {
    const jwk = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 65537 }).publicKey.export({ format: 'jwk' });
    made = { exponent: Buffer.from(jwk.e!, 'base64url').toString('base64'), modulus: Buffer.from(jwk.n!, 'base64url').toString('base64') };
  }
  return made;
}
