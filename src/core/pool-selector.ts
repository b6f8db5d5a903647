// The one label selector that finds a pool's pods: the StatefulSet's own, so no flow touches another release's pods.
import { poolLabels, selectorKeys } from './manifests.js';

export function poolPodSelector(runnerName: string): string {
  const labels = poolLabels(runnerName);
  return selectorKeys.map((key) => `${key}=${labels[key]}`).join(',');
}
