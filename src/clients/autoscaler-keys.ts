// The autoscaler's handshake keys (src/core/handshake-trust.ts) with node:crypto: DeployRunnerPool makes them once,
// and the autoscaler loads its private keys from their Secret, checked against the public keys the runner pods have.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AutoscalerKeyMaker } from '../core/ports/handshake.js';
import { autoscalerKeyFiles, type AutoscalerKeys, type AutoscalerPublicKeys } from '../core/handshake-trust.js';

const pem = (key: KeyObject) => key.export({ format: 'pem', type: 'pkcs8' }) as string;
const raw = (key: KeyObject) => key.export({ format: 'jwk' }).x!;

/** The private keys as key objects, when they are an Ed25519 key and an X25519 key. */
function privateKeys(stored: AutoscalerKeys['private']): { signing: KeyObject; encryption: KeyObject } | undefined {
  try {
    const signing = createPrivateKey(stored.signing);
    const encryption = createPrivateKey(stored.encryption);
    return signing.asymmetricKeyType === 'ed25519' && encryption.asymmetricKeyType === 'x25519' ? { signing, encryption } : undefined;
  } catch {
    return undefined;
  }
}

export const autoscalerKeyMaker: AutoscalerKeyMaker = {
  make() {
    const signing = generateKeyPairSync('ed25519');
    const encryption = generateKeyPairSync('x25519');
    return {
      public: { signing: raw(signing.publicKey), encryption: raw(encryption.publicKey) },
      private: { signing: pem(signing.privateKey), encryption: pem(encryption.privateKey) },
    };
  },
  publicKeys(stored) {
    const keys = privateKeys(stored);
    return keys && { signing: raw(createPublicKey(keys.signing)), encryption: raw(createPublicKey(keys.encryption)) };
  },
};

/**
 * The autoscaler's private keys from its Secret's volume; they must be those whose public keys the runner pods were
 * given (a Secret replaced by hand, without DeployRunnerPool, would leave every pod unregistered).
 */
export function loadAutoscalerKeys(dir: string, expected: AutoscalerPublicKeys): { signing: KeyObject; encryption: KeyObject } {
  const stored = { signing: readFileSync(join(dir, autoscalerKeyFiles.signing), 'utf8'), encryption: readFileSync(join(dir, autoscalerKeyFiles.encryption), 'utf8') };
  const keys = privateKeys(stored);
  if (keys === undefined) throw new Error(`${dir} does not hold an Ed25519 and an X25519 private key (PKCS#8 PEM): redeploy the pool with DeployRunnerPool`);
  const found = autoscalerKeyMaker.publicKeys(stored)!;
  if (found.signing !== expected.signing || found.encryption !== expected.encryption) {
    throw new Error(`the keys in ${dir} are not those the runner pods were given: redeploy the pool with DeployRunnerPool`);
  }
  return keys;
}
