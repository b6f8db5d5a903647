// Pod Security Standards (kubernetes.io/docs/concepts/security/pod-security-standards), the checks the baseline and
// restricted levels make of a pod spec, for the fast tier; the e2e (tests/e2e/docker-jobs.test.ts) asks the API
// server's own admission. Only the fields our manifests can set are read; each violation names its field.
import type { V1Container, V1LifecycleHandler, V1PodSpec, V1SecurityContext } from '@kubernetes/client-node';

export type PodSecurityLevel = 'baseline' | 'restricted';

const baselineCapabilities = new Set(['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT']);
const restrictedVolumes = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);

/** What a pod with this spec violates at `level` (baseline's checks are also restricted's); empty: admitted. */
export function podSecurityViolations(spec: V1PodSpec, level: PodSecurityLevel): string[] {
  const violations: string[] = [];
  const containers: V1Container[] = [...(spec.initContainers ?? []), ...spec.containers];
  const pod = spec.securityContext ?? {};
  const each = (check: (context: V1SecurityContext, container: V1Container) => string | undefined) => {
    for (const container of containers) {
      const found = check(container.securityContext ?? {}, container);
      if (found) violations.push(`container ${container.name}: ${found}`);
    }
  };
  if (spec.hostNetwork || spec.hostPID || spec.hostIPC) violations.push('host namespaces');
  for (const volume of spec.volumes ?? []) if (volume.hostPath) violations.push(`volume ${volume.name}: hostPath`);
  if (pod.seccompProfile?.type === 'Unconfined') violations.push('pod seccompProfile Unconfined');
  each((context) => (context.privileged ? 'privileged' : undefined));
  each((context) => context.capabilities?.add?.filter((cap) => !baselineCapabilities.has(cap)).map((cap) => `adds ${cap}`).join(', ') || undefined);
  each((_, container) => (container.ports?.some((port) => port.hostPort) ? 'hostPort' : undefined));
  each((context) => (context.seccompProfile?.type === 'Unconfined' ? 'seccompProfile Unconfined' : undefined));
  // v1.34+: a probe or hook may not name a host, which would have the kubelet reach beyond the pod (from the node).
  each((_, container) => {
    const handlers: Array<[string, V1LifecycleHandler | undefined]> = [
      ['livenessProbe', container.livenessProbe], ['readinessProbe', container.readinessProbe], ['startupProbe', container.startupProbe],
      ['postStart', container.lifecycle?.postStart], ['preStop', container.lifecycle?.preStop],
    ];
    return handlers.filter(([, handler]) => handler?.httpGet?.host || handler?.tcpSocket?.host).map(([field]) => `${field} host`).join(', ') || undefined;
  });
  if (level === 'baseline') return violations;

  for (const volume of spec.volumes ?? []) {
    const kinds = Object.keys(volume).filter((key) => key !== 'name');
    if (!kinds.every((kind) => restrictedVolumes.has(kind))) violations.push(`volume ${volume.name}: type ${kinds.join(', ')}`);
  }
  if (pod.runAsUser === 0) violations.push('pod runAsUser 0');
  each((context) => (context.allowPrivilegeEscalation !== false ? 'allowPrivilegeEscalation not false' : undefined));
  each((context) => {
    const nonRoot = context.runAsNonRoot ?? pod.runAsNonRoot;
    return nonRoot !== true ? 'runAsNonRoot not true' : context.runAsUser === 0 ? 'runAsUser 0' : undefined;
  });
  each((context) => (['RuntimeDefault', 'Localhost'].includes(context.seccompProfile?.type ?? pod.seccompProfile?.type ?? '') ? undefined : 'no RuntimeDefault or Localhost seccompProfile'));
  each((context) => (context.capabilities?.drop?.includes('ALL') ? undefined : 'does not drop ALL capabilities'));
  each((context) => context.capabilities?.add?.filter((cap) => cap !== 'NET_BIND_SERVICE').map((cap) => `adds ${cap}`).join(', ') || undefined);
  return violations;
}
