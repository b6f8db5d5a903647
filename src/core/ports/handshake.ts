// The registration handshake with a runner pod (src/core/registration.ts), as the autoscaler sees it, and the making
// of the autoscaler's keys, as DeployRunnerPool needs it (src/core/handshake-trust.ts).
import type { RegistrationGrant, RegistrationRequest } from '../registration.js';
import type { AutoscalerKeys, AutoscalerPublicKeys } from '../handshake-trust.js';

export interface RunnerHandshake {
  /** The request the pod at `ip` serves, opened; undefined while it serves none (its helper not up yet, or already done). */
  request(ip: string): Promise<RegistrationRequest | undefined>;
  /** Hands the pod its agent's settings, signed over `request` (the one it serves); it then starts the agent. */
  grant(ip: string, grant: RegistrationGrant, request: RegistrationRequest): Promise<void>;
}

export interface AutoscalerKeyMaker {
  /** New key pairs for a pool's autoscaler. */
  make(): AutoscalerKeys;
  /** The public keys of stored private keys; undefined when they are not an Ed25519 and an X25519 key. */
  publicKeys(stored: AutoscalerKeys['private']): AutoscalerPublicKeys | undefined;
}
