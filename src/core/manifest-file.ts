// The pool's manifests as one YAML file (DeployRunnerPool's render action): every object but the Secret's values.
import { dump } from 'js-yaml';
import type { RunnerPoolSpec } from './model.js';
import { autoscalerKeysSecretName, renderRegistrationSecret, renderRunnerPool } from './manifests/index.js';

/** The manifests as a multi-document YAML file, without the Secret: its values must never reach a file or a log. */
export function manifestFile(pool: RunnerPoolSpec): string {
  const secret = renderRegistrationSecret(pool);
  const objects = renderRunnerPool(pool).filter((o) => o.kind !== 'Secret');
  const header = secret
    ? `# The agents read their registration credential from the Secret '${secret.metadata.name}', which is not written here.\n` +
      `# Create it yourself, e.g.: kubectl -n ${pool.namespace} create secret generic ${secret.metadata.name} --from-literal=token=<PAT>\n`
    : '';
  const keys = pool.autoscaler && pool.autoscalerKeys === undefined
    ? `# The autoscaler's handshake keys (the Secret '${autoscalerKeysSecretName(pool.runnerName)}', and their public halves in the runner pods'\n` +
      `# and the autoscaler's environment) are made when DeployRunnerPool applies the pool; deploy it with apply.\n`
    : '';
  const recycling = pool.podRecycling === 'restartRules'
    ? '# Every job gets a fresh pod through container restart rules (Kubernetes >= 1.35); for older clusters render with\n' +
      '# podRecycling: sidecar (docs/fresh-pod-per-job.md).\n'
    : '';
  return header + keys + recycling + objects.map((o) => `---\n${dump(o, { noRefs: true, lineWidth: -1 })}`).join('');
}
