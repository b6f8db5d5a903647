// Container jobs in the job message, as the service sends them to the agent (microsoft/azure-pipelines-agent reads them
// in ExecutionContext.InitializeJob): `jobContainer` names a container resource by alias, `jobSidecarContainers` maps
// each service's network alias to a resource alias, `resources.containers` holds the resources (alias, endpoint,
// properties), a private registry is a `dockerregistry` endpoint, and a step's `target` is `{ target: alias | "host" }`.
import type { JobSpec, Job } from './types.js';

/** What is wrong with a job spec, in one line naming the input; undefined when it can be queued. */
export function jobSpecError(spec: JobSpec): string | undefined {
  const steps = spec.steps ?? (spec.script === undefined ? [] : [{ script: spec.script }]);
  if (steps.length === 0) return 'A job needs a script or steps.';
  const badStep = steps.findIndex((step) => typeof step?.script !== 'string');
  if (badStep >= 0) return `steps[${badStep}] needs a script.`;
  const containers = spec.containers ?? {};
  for (const [alias, container] of Object.entries(containers)) {
    if (typeof container?.image !== 'string' || container.image === '') return `containers.${alias} needs an image.`;
    const registry = container.registry;
    if (registry && !(registry.server && registry.username && registry.password)) return `containers.${alias}.registry needs server, username and password.`;
  }
  if (spec.container !== undefined && !(spec.container in containers)) return `container "${spec.container}" is not one of the job's containers (${Object.keys(containers).join(', ') || 'none'}).`;
  for (const [name, alias] of Object.entries(spec.services ?? {})) {
    if (!(alias in containers)) return `services.${name} names "${alias}", which is not one of the job's containers.`;
  }
  return undefined;
}

/** The job message's container members: `jobContainer`, `jobSidecarContainers`, and the resources and endpoints. */
export function containerMessage(job: Job): { jobContainer?: string; jobSidecarContainers: Record<string, string>; containers: unknown[]; endpoints: unknown[] } {
  const containers = Object.entries(job.containers).map(([alias, spec]) => {
    const properties: Record<string, unknown> = { image: spec.image };
    if (spec.options !== undefined) properties.options = spec.options;
    if (spec.env !== undefined) properties.env = spec.env;
    if (spec.ports !== undefined) properties.ports = spec.ports;
    if (spec.volumes !== undefined) properties.volumes = spec.volumes;
    if (spec.mapDockerSocket !== undefined) properties.mapDockerSocket = spec.mapDockerSocket;
    if (spec.command !== undefined) properties.command = spec.command;
    return { alias, ...(spec.endpointId ? { endpoint: { id: spec.endpointId } } : {}), properties };
  });
  const endpoints = Object.entries(job.containers).flatMap(([alias, spec]) => (spec.registry && spec.endpointId ? [{
    id: spec.endpointId, name: `${alias}-registry`, type: 'dockerregistry', url: spec.registry.server,
    authorization: { scheme: 'UsernamePassword', parameters: { registry: spec.registry.server, username: spec.registry.username, password: spec.registry.password } },
    data: { registrytype: 'Others' }, isShared: false, isReady: true,
  }] : []));
  return { jobContainer: job.container, jobSidecarContainers: job.services, containers, endpoints };
}
