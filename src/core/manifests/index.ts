// Pool spec → the Kubernetes objects of a runner pool, one file per object family. Pure: the same spec always renders
// the same objects.
import type { KubeObject } from '../ports/kube.js';
import type { DockerMode, RunnerPoolSpec } from '../model.js';
import { renderRegistrationSecret } from './registration-secret.js';
import { renderRecycleAccess } from './recycle-access.js';
import { renderDisruptionBudget } from './disruption-budget.js';
import { renderStatefulSet } from './stateful-set.js';
import { renderAutoscalerAccess, renderAutoscalerDeployment, renderAutoscalerKeysSecret } from './autoscaler.js';
import { renderAutoscalerPolicy, renderEgressPolicy, renderHandshakePolicy } from './network-policy.js';

export * from './pool-labels.js';
export * from './registration-secret.js';
export * from './recycle-access.js';
export * from './disruption-budget.js';
export * from './runner-pod.js';
export * from './stateful-set.js';
export * from './autoscaler.js';
export * from './network-policy.js';

/** Every object of the pool, in apply order. */
export function renderRunnerPool(spec: RunnerPoolSpec): KubeObject[] {
  const secret = renderRegistrationSecret(spec);
  const { autoscalerKeys } = spec;
  const keys = spec.autoscaler && autoscalerKeys ? [renderAutoscalerKeysSecret({ ...spec, autoscalerKeys })] : [];
  const access = [...(spec.podRecycling === 'sidecar' ? renderRecycleAccess(spec) : []), ...(spec.autoscaler ? renderAutoscalerAccess(spec) : [])];
  const autoscaler = spec.autoscaler ? [renderAutoscalerDeployment(spec)] : [];
  const egress = spec.restrictEgress === false ? [] : [renderEgressPolicy(spec)];
  const ingress = spec.autoscaler ? [renderHandshakePolicy(spec), renderAutoscalerPolicy(spec)] : [];
  return [...(secret ? [secret] : []), ...keys, ...access, ...egress, ...ingress, renderDisruptionBudget(spec), renderStatefulSet(spec), ...autoscaler];
}

/**
 * Every object DeployRunnerPool can have made for a runner, whatever it was deployed with (Docker mode, pod recycling,
 * autoscaler), in apply order: what the command line's remove looks for, by name.
 */
export function everyPoolObject(pool: Pick<RunnerPoolSpec, 'namespace' | 'runnerName' | 'poolName' | 'organizationUrl'>): KubeObject[] {
  const widest: RunnerPoolSpec = {
    ...pool, replicas: 0, image: 'unused', credential: { kind: 'pat', token: '' }, resources: {}, nodeSelector: {}, tolerations: [], env: {},
    dockerMode: 'none', podRecycling: 'sidecar', priority: 0, autoscaler: { minReplicas: 0, maxReplicas: 0, standby: 0, pollSeconds: 5 },
    autoscalerKeys: { public: { signing: '', encryption: '' }, private: { signing: '', encryption: '' } },
  };
  const objects = new Map<string, KubeObject>();
  for (const dockerMode of ['none', 'hostSocket', 'dind'] satisfies DockerMode[]) {
    for (const object of renderRunnerPool({ ...widest, dockerMode })) objects.set(`${object.kind}/${object.metadata.name}`, object);
  }
  return [...objects.values()];
}
