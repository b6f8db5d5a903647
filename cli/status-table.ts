// The pool as a table for a terminal, worded as the Runner pools hub words it (the hub's own labels and durations).
import { formatDuration, stateLabels } from '../hub/src/components/format.js';
import { describeStuckSlot, type PoolView, type SlotView } from '../src/core/index.js';
import type { PoolStatus } from '../src/flows/pool-status.js';

function owner(status: PoolStatus): string {
  if (status.replicasOwner === 'autoscaler') {
    const running = status.autoscaler ? `${status.autoscaler.name}: ${status.autoscaler.ready ? 'running' : 'not ready'}` : 'its Deployment is missing';
    return `set by the in-cluster autoscaler (${running})`;
  }
  return status.replicasOwner === 'ScaleRunnerPool' ? 'set by ScaleRunnerPool' : 'set by DeployRunnerPool\'s replicas';
}

function row(slot: SlotView, now: Date): string[] {
  const { agent } = slot;
  const notes = [slot.staleRegistration && 'stale registration', slot.beyondReplicas && 'above the replica count'].filter(Boolean);
  // Kubernetes' word for why it is not running, as kubectl shows it.
  const why = slot.waitingReason ?? slot.cannotStart?.kubernetesReason ?? (slot.state === 'parked' ? 'SchedulingGated' : undefined);
  const pod = slot.podPhase === undefined ? '-' : `${slot.podPhase}, ${slot.ready ? 'ready' : 'not ready'}${why ? ` (${why})` : ''}${slot.deleting ? ', stopping' : ''}`;
  return [
    slot.podName,
    [stateLabels[slot.state], ...notes].join(', '),
    // A busy agent is disabled for the rest of its one job (single-use): not worth a word next to the job.
    agent ? `#${agent.id} ${agent.status}${agent.enabled || slot.state === 'busy' ? '' : ', disabled'}` : 'not registered',
    agent?.runningJob ? `${agent.runningJob.name} (#${agent.runningJob.requestId})` : '',
    pod,
    slot.restarts === undefined ? '' : String(slot.restarts),
    slot.node ?? '',
    slot.startedAt ? formatDuration(now.getTime() - Date.parse(slot.startedAt)) : '',
  ];
}

/** The slots that cannot start, each with Kubernetes' words, and the waiting jobs this runner counts, which wait on them. */
function stuckLines(view: PoolView): string[] {
  if (view.stuck.length === 0) return [];
  const jobs = view.counted?.map((job) => `${job.name} (#${job.requestId})`) ?? [];
  return [
    '',
    'Slots that cannot start:',
    ...view.stuck.map((stuck) => `  ${describeStuckSlot(stuck)}`),
    ...(jobs.length > 0 ? [`Waiting jobs this runner counts, waiting on them: ${jobs.join(', ')}`] : []),
  ];
}

/** Columns padded to their widest cell; the last one is not padded. */
function columns(rows: string[][]): string {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((cells) => cells[column].length)));
  return rows.map((cells) => cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]))).join('  ').trimEnd()).join('\n');
}

export function statusTable(status: PoolStatus, now: Date): string {
  const { view } = status;
  const { counters } = view;
  const head = [
    `Runner ${view.runnerName} in namespace ${view.namespace}, agent pool '${view.poolName}'`,
    `Replicas: ${view.replicas ?? '?'}, ${owner(status)}`,
    `Online ${counters.online} · Busy ${counters.busy} · Idle ${counters.idle} · Offline ${counters.offline} · Disabled ${counters.disabled} · Parked ${counters.parked} · Queued ${counters.queued ?? '?'}`,
    ...stuckLines(view),
  ];
  if (view.slots.length === 0) return `${head.join('\n')}\n\nNo slot: the pool is at zero and has no registration.\n`;
  const table = columns([['SLOT', 'STATE', 'AGENT', 'JOB', 'POD', 'RESTARTS', 'NODE', 'AGE'], ...view.slots.map((slot) => row(slot, now))]);
  return `${head.join('\n')}\n\n${table}\n`;
}
