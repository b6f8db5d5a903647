// Test support: the pod a KEDA ScaledJob (or a bare Kubernetes Job) runs for one Azure Pipelines job, from our runner
// image in its `all` mode: the PAT in the agent's environment, register and run in one container. Shared by the
// pod-start benchmark's bare Job pods and the KEDA side-by-side, so both measure the same pod.
import type { V1PodSpec } from '@kubernetes/client-node';

export interface AgentJobPod {
  image: string;
  organizationUrl: string;
  poolName: string;
  /** The Secret holding the PAT under `token`. */
  secretName: string;
  /** More of the agent's settings (e.g. AZP_AGENT_NAME, AZP_REMOVE_ON_EXIT). */
  env?: { name: string; value?: string; valueFrom?: { fieldRef: { fieldPath: string } } }[];
}

export function agentJobPodSpec(pod: AgentJobPod): V1PodSpec {
  return {
    restartPolicy: 'Never',
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    containers: [{
      name: 'agent',
      image: pod.image,
      imagePullPolicy: 'IfNotPresent',
      args: ['all'],
      env: [
        { name: 'AZP_URL', value: pod.organizationUrl },
        { name: 'AZP_POOL', value: pod.poolName },
        { name: 'AZP_TOKEN', valueFrom: { secretKeyRef: { name: pod.secretName, key: 'token' } } },
        ...(pod.env ?? []),
      ],
      securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
    }],
  };
}
