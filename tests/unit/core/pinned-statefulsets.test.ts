// The StatefulSets of a few representative pools, pinned to the byte (key order included) in pinned-statefulsets.json:
// a change to the rendering shows up here as a diff of the objects a cluster receives. After an intended change,
// `UPDATE_PINNED=1 npm test -- tests/unit/core/pinned-statefulsets.test.ts` rewrites the file; review its diff.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { renderStatefulSet } from '../../../src/core/manifests/index.js';
import type { RunnerPoolSpec } from '../../../src/core/model.js';

const pinnedFile = new URL('./pinned-statefulsets.json', import.meta.url);

const base: RunnerPoolSpec = {
  namespace: 'runners',
  runnerName: 'linux',
  poolName: 'Linux Private',
  organizationUrl: 'https://dev.azure.com/contoso',
  replicas: 3,
  image: 'registry.example.com/runner:1',
  credential: { kind: 'pat', token: 'pat-value' },
  resources: { cpuRequest: '500m' },
  nodeSelector: {},
  tolerations: [],
  env: {},
  dockerMode: 'none',
  podRecycling: 'restartRules',
  priority: 0,
};

const specs: Record<string, RunnerPoolSpec> = {
  'a PAT, restart rules, no Docker': base,
  'the in-cluster autoscaler registers the agents, a priority': {
    ...base,
    cluster: '3f9b2c1e-8d4a-4e6f-9a1b-0c2d3e4f5a6b',
    autoscaler: { minReplicas: 0, maxReplicas: 20, standby: 1, pollSeconds: 5 },
    autoscalerKeys: { public: { signing: 'S'.repeat(43), encryption: 'E'.repeat(43) }, private: { signing: 'unused', encryption: 'unused' } },
    priority: 10,
  },
  'a service principal, the recycle sidecar, Docker in Docker, every option': {
    ...base,
    credential: { kind: 'servicePrincipal', tenantId: 'tenant', clientId: 'client', clientSecret: 'secret' },
    podRecycling: 'sidecar',
    dockerMode: 'dind',
    resources: { cpuRequest: '1', memoryRequest: '1Gi', cpuLimit: '2', memoryLimit: '4Gi' },
    imagePullSecret: 'pull',
    nodeSelector: { agentpool: 'ci' },
    tolerations: [{ key: 'ci', operator: 'Exists', effect: 'NoSchedule' }],
    env: { TOOL_HOME: '/opt/tool' },
    workVolumeSize: '20Gi',
  },
  'an existing Secret, the host Docker socket and its group, a memory limit only': {
    ...base,
    credential: { kind: 'existingSecret', secretName: 'mine' },
    dockerMode: 'hostSocket',
    dockerSocketGroupId: 998,
    resources: { memoryLimit: '2Gi' },
  },
  'rootless buildah under a node\'s seccomp profile': {
    ...base,
    dockerMode: 'buildah',
    buildahSeccompProfile: { type: 'Localhost', localhostProfile: 'azure-devops-runner/buildah.json' },
  },
  'the recycle sidecar and the host Docker socket without a group, no resources': {
    ...base,
    podRecycling: 'sidecar',
    dockerMode: 'hostSocket',
    resources: {},
  },
};

const render = () => JSON.stringify(Object.fromEntries(Object.entries(specs).map(([name, spec]) => [name, renderStatefulSet(spec)])), null, 2) + '\n';

it('renders the pinned StatefulSets byte for byte', () => {
  if (process.env.UPDATE_PINNED === '1') writeFileSync(pinnedFile, render());
  assert.equal(render(), readFileSync(pinnedFile, 'utf8'));
});
