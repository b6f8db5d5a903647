// The registration handshake with a runner pod (src/core/registration.ts), as the autoscaler sees it.
import type { RegistrationGrant, RegistrationRequest } from '../registration.js';

export interface RunnerHandshake {
  /** The request the pod at `ip` serves; undefined while it serves none (its helper not up yet, or already done). */
  request(ip: string): Promise<RegistrationRequest | undefined>;
  /** Hands the pod its agent's settings; it then starts the agent. */
  grant(ip: string, grant: RegistrationGrant): Promise<void>;
}
