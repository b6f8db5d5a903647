// One row per runner slot: agent state, current and last job, pod phase, node, image, age.
import * as React from 'react';
import { Link } from 'azure-devops-ui/Link.js';
import { Status, Statuses, StatusSize, type IStatusProps } from 'azure-devops-ui/Status.js';
import { SimpleTableCell, Table, TwoLineTableCell, type ITableColumn } from 'azure-devops-ui/Table.js';
import { ArrayItemProvider } from 'azure-devops-ui/Utilities/Provider.js';
import type { SlotState, SlotView } from '../../../src/core/index.js';
import { ago, plainText, resultLabel, stateHints, stateLabels } from './format.js';

const stateStatus: Record<SlotState, IStatusProps> = {
  busy: Statuses.Running,
  idle: Statuses.Success,
  offline: Statuses.Skipped,
  disabled: Statuses.Canceled,
  failing: Statuses.Failed,
  parked: Statuses.Waiting,
  starting: Statuses.Queued,
  missing: Statuses.Warning,
};

const resultStatus: Record<string, IStatusProps> = {
  succeeded: Statuses.Success,
  succeededWithIssues: Statuses.Warning,
  failed: Statuses.Failed,
  canceled: Statuses.Canceled,
  skipped: Statuses.Skipped,
  abandoned: Statuses.Canceled,
};

type CellRenderer = (slot: SlotView, now: Date) => { line1: React.ReactNode; line2?: React.ReactNode };

const dash = <span className="secondary-text">—</span>;

const cells: Array<{ id: string; name: string; width: number; render: CellRenderer }> = [
  {
    id: 'slot', name: 'Slot', width: -14,
    render: (slot) => ({
      line1: <span className="slot-pod font-weight-semibold">{slot.podName}</span>,
      line2: slot.beyondReplicas ? 'beyond replica count' : slot.agent && slot.agent.name !== slot.podName ? `agent ${slot.agent.name}` : undefined,
    }),
  },
  {
    id: 'agent', name: 'Agent', width: -16,
    render: (slot, now) => ({
      line1: (
        <span className={`slot-state slot-state-${slot.state} flex-row flex-center`} title={stateHints[slot.state]}>
          <Status {...stateStatus[slot.state]} size={StatusSize.m} className="margin-right-4" />
          <span className="slot-state-label">{stateLabels[slot.state]}</span>
        </span>
      ),
      line2: slot.staleRegistration ? 'registration from an earlier pod' : slot.state === 'parked' ? 'starts when a job needs it'
        : slot.waitingReason ?? slot.cannotStart?.kubernetesReason ?? ago(slot.agent?.statusChangedOn, now),
    }),
  },
  {
    id: 'job', name: 'Running job', width: -18,
    render: (slot, now) => {
      const job = slot.agent?.runningJob;
      if (!job) return { line1: dash };
      return {
        line1: job.url ? <Link className="slot-job" href={job.url} target="_blank" rel="noopener noreferrer">{job.name}</Link> : <span className="slot-job">{job.name}</span>,
        line2: job.time ? `started ${ago(job.time, now)}` : undefined,
      };
    },
  },
  {
    id: 'last', name: 'Last job', width: -18,
    render: (slot, now) => {
      const job = slot.agent?.lastJob;
      if (!job) return { line1: dash };
      const status = resultStatus[job.result ?? ''] ?? Statuses.Information;
      return {
        line1: (
          <span className="slot-last flex-row flex-center">
            <Status {...status} size={StatusSize.s} className="margin-right-4" />
            {job.url ? <Link href={job.url} target="_blank" rel="noopener noreferrer">{job.name}</Link> : job.name}
          </span>
        ),
        line2: [resultLabel(job.result), ago(job.time, now)].filter(Boolean).join(' · '),
      };
    },
  },
  {
    id: 'pod', name: 'Pod', width: -14,
    render: (slot) => {
      if (!slot.podPhase) return { line1: <span className="slot-pod-phase secondary-text">not in snapshot</span> };
      const restarts = slot.restarts ? `${slot.restarts} restart${slot.restarts === 1 ? '' : 's'}` : 'no restarts';
      return {
        line1: <span className="slot-pod-phase">{slot.podPhase}{slot.deleting ? ' (terminating)' : ''} · {slot.ready ? 'ready' : 'not ready'}</span>,
        line2: restarts,
      };
    },
  },
  { id: 'node', name: 'Node', width: -10, render: (slot) => ({ line1: slot.node ?? dash }) },
  { id: 'image', name: 'Image', width: -16, render: (slot) => ({ line1: slot.image ? <span className="slot-image">{slot.image}</span> : dash }) },
  { id: 'age', name: 'Age', width: -8, render: (slot, now) => ({ line1: slot.startedAt ? ago(slot.startedAt, now)!.replace(' ago', '') : dash }) },
];

/** A cell's line, cut with an ellipsis where the column is narrower; the whole text shows on hover. */
function line(content: React.ReactNode): React.JSX.Element {
  return <span className="slot-line" title={plainText(content)}>{content}</span>;
}

function columns(now: Date): Array<ITableColumn<SlotView>> {
  return cells.map((cell) => ({
    id: cell.id,
    name: cell.name,
    width: cell.width,
    renderCell: (_row: number, columnIndex: number, tableColumn: ITableColumn<SlotView>, slot: SlotView) => {
      const { line1, line2 } = cell.render(slot, now);
      return line2 === undefined || line2 === ''
        ? <SimpleTableCell key={cell.id} columnIndex={columnIndex} tableColumn={tableColumn}>{line(line1)}</SimpleTableCell>
        : <TwoLineTableCell key={cell.id} columnIndex={columnIndex} tableColumn={tableColumn} line1={line(line1)} line2={line(<span className="secondary-text">{line2}</span>)} />;
    },
  }));
}

export function SlotTable(props: { slots: SlotView[]; now: Date }): React.JSX.Element {
  const { slots, now } = props;
  const provider = React.useMemo(() => new ArrayItemProvider(slots), [slots]);
  const tableColumns = React.useMemo(() => columns(now), [now]);
  return <Table<SlotView> className="slot-table" ariaLabel="Runner slots" columns={tableColumns} itemProvider={provider} showLines={true} />;
}
