// The Secret holding the agents' registration credential.
import type { V1Secret } from '@kubernetes/client-node';
import type { RunnerPoolSpec } from '../model.js';
import { poolLabels, type Manifest } from './pool-labels.js';

export function registrationSecretName(spec: RunnerPoolSpec): string {
  return spec.credential.kind === 'existingSecret' ? spec.credential.secretName : `${spec.runnerName}-registration`;
}

/** The Secret holding the registration credential, or undefined when the user brings an existing one. */
export function renderRegistrationSecret(spec: RunnerPoolSpec): Manifest<V1Secret> | undefined {
  const { credential } = spec;
  if (credential.kind === 'existingSecret') return undefined;
  const stringData: Record<string, string> =
    credential.kind === 'pat'
      ? { token: credential.token }
      : { clientId: credential.clientId, tenantId: credential.tenantId, clientSecret: credential.clientSecret };
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: registrationSecretName(spec), namespace: spec.namespace, labels: poolLabels(spec.runnerName) },
    type: 'Opaque',
    stringData,
  };
}
