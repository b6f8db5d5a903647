// One runner pool: its counters, how fresh the cluster's view is, and its slots.
import * as React from 'react';
import { Card } from 'azure-devops-ui/Card.js';
import { Link } from 'azure-devops-ui/Link.js';
import { describeStuckSlot, type JobLink, type PoolCounters, type PoolView, type SlotView } from '../../../src/core/index.js';
import { describeLoadError } from '../services/RunnerPoolService.js';
import { formatDuration, stateLabels } from './format.js';
import { SlotTable } from './SlotTable.js';

const counterLabels: Array<[keyof PoolCounters, string]> = [
  ['online', 'Online'], ['busy', 'Busy'], ['idle', 'Idle'], ['offline', 'Offline'], ['disabled', 'Disabled'], ['parked', 'Parked'],
  ['queued', 'Queued jobs'],
];

/** Snapshots older than this are flagged: no task has run for a while, so pod data may be out of date. */
const staleAfterMs = 60 * 60_000;

/** A counter's number; the queue arrives after the rest, so it may still be loading or have failed. */
function CounterValue(props: { value: number | undefined; error?: unknown }): React.JSX.Element {
  if (props.error !== undefined) {
    const { title, detail } = describeLoadError(props.error);
    return <span className="pool-counter-value pool-counter-failed title-m" title={`${title}: ${detail}`}>!</span>;
  }
  if (props.value === undefined) return <span className="pool-counter-value pool-counter-loading title-m" aria-label="loading">…</span>;
  return <span className="pool-counter-value title-m">{props.value}</span>;
}

/**
 * The pool-wide counters; next to the queue, how many of its waiting jobs this runner counts (each waiting job of a
 * pool is counted by one of its runners).
 */
export function Counters(props: { counters: PoolCounters; counted?: JobLink[]; queueError?: unknown }): React.JSX.Element {
  const { counters, counted, queueError } = props;
  return (
    <div className="pool-counters flex-row flex-wrap" role="list" aria-label="Pool counters">
      {counterLabels.map(([key, label]) => (
        <div key={key} className={`pool-counter pool-counter-${key}`} role="listitem" data-counter={key}>
          <CounterValue value={counters[key]} error={key === 'queued' ? queueError : undefined} />
          <span className="pool-counter-label secondary-text">
            {label}
            {key === 'queued' && counted !== undefined && queueError === undefined && (
              <span className="pool-counter-share"> · this runner counts {counted.length}</span>
            )}
          </span>
          {key === 'queued' && queueError !== undefined && (
            <span className="pool-counter-error secondary-text">Not loaded: {describeLoadError(queueError).title}</span>
          )}
        </div>
      ))}
    </div>
  );
}

/** How many of the jobs a runner counts its card names; the others are only counted. */
const namedCountedJobs = 5;

/** The waiting jobs this runner counts, named with their request ids. */
function CountedJobs(props: { counted: JobLink[] | undefined }): React.JSX.Element | null {
  const { counted } = props;
  if (!counted?.length) return null;
  const named = counted.slice(0, namedCountedJobs);
  return (
    <div className="pool-counted secondary-text">
      Waiting jobs this runner counts:{' '}
      {named.map((job, index) => (
        <React.Fragment key={job.requestId}>
          {index > 0 ? ', ' : ''}
          <span className="pool-counted-job">
            {job.url ? <Link href={job.url} target="_blank" rel="noopener noreferrer">{job.name}</Link> : job.name} (#{job.requestId})
            {job.waitsOn && <span className="pool-counted-waits"> — waits: {job.waitsOn}</span>}
          </span>
        </React.Fragment>
      ))}
      {counted.length > named.length ? ` and ${counted.length - named.length} more` : ''}.
    </div>
  );
}

/** The slots whose pod cannot start, each with Kubernetes' words: why the jobs this runner counts wait. */
function StuckSlots(props: { view: PoolView }): React.JSX.Element | null {
  const { stuck } = props.view;
  if (stuck.length === 0) return null;
  return (
    <div className="pool-stuck" role="alert">
      {stuck.map((slot) => (
        <div key={slot.slot} className="pool-stuck-slot" data-reason={slot.reason}>{describeStuckSlot(slot)}</div>
      ))}
    </div>
  );
}

/** Waits in seconds up to ten minutes: the difference between 65 s and 119 s matters there. */
const formatWait = (seconds: number) => (seconds < 600 ? `${Math.round(seconds)} s` : formatDuration(seconds * 1000));

function SnapshotLine(props: { view: PoolView }): React.JSX.Element {
  const { snapshot } = props.view;
  if (!snapshot) {
    return <div className="pool-snapshot secondary-text">No pod data yet: DeployRunnerPool and ScaleRunnerPool publish it after each run.</div>;
  }
  const stale = snapshot.ageMs > staleAfterMs;
  return (
    <div className={`pool-snapshot secondary-text${stale ? ' pool-snapshot-stale' : ''}`}>
      Pod data from {formatDuration(snapshot.ageMs)} ago ({snapshot.publishedBy}){stale ? ' — run ScaleRunnerPool to refresh it' : ''}.
      {snapshot.lastDecision ? ` Last scale decision: ${snapshot.lastDecision.reason}` : ''}
      {snapshot.jobWait
        ? ` Jobs waited for an agent over the last day: median ${formatWait(snapshot.jobWait.medianSeconds)}, 95th percentile ${formatWait(snapshot.jobWait.p95Seconds)} (${snapshot.jobWait.jobs} jobs).`
        : ''}
    </div>
  );
}

export function matchesFilter(slot: SlotView, filter: string): boolean {
  if (!filter) return true;
  const agent = slot.agent;
  const text = [slot.podName, agent?.name, stateLabels[slot.state], slot.state, slot.node, slot.image, slot.podPhase, slot.waitingReason,
    agent?.runningJob?.name, agent?.lastJob?.name, agent?.lastJob?.result].filter(Boolean).join(' ').toLowerCase();
  return filter.toLowerCase().split(/\s+/).filter(Boolean).every((word) => text.includes(word));
}

export function PoolCard(props: { view: PoolView; queueError?: unknown; filter: string; now: Date; organizationUrl?: string }): React.JSX.Element {
  const { view, queueError, filter, now, organizationUrl } = props;
  const slots = React.useMemo(() => view.slots.filter((slot) => matchesFilter(slot, filter)), [view.slots, filter]);
  const poolLink = organizationUrl && view.poolId !== undefined ? `${organizationUrl}/_settings/agentpools?poolId=${view.poolId}&view=agents` : undefined;
  return (
    <Card
      className="pool-card bolt-card-white flex-grow"
      titleProps={{ text: `${view.runnerName}${view.namespace ? ` in ${view.namespace}` : ''}`, ariaLevel: 2 }}
      headerDescriptionProps={{
        text: (
          <span className="pool-name">
            Agent pool {poolLink ? <Link href={poolLink} target="_blank" rel="noopener noreferrer">{view.poolName}</Link> : view.poolName}
            {view.replicas !== undefined ? ` · ${view.replicas} replica${view.replicas === 1 ? '' : 's'}` : ''}
          </span>
        ),
      }}
      contentProps={{ contentPadding: false }}
    >
      <div className="pool-body flex-column flex-grow" data-pool={view.key}>
        <Counters counters={view.counters} counted={view.counted} queueError={queueError} />
        <StuckSlots view={view} />
        {queueError === undefined && <CountedJobs counted={view.counted} />}
        <SnapshotLine view={view} />
        {view.slots.length === 0 ? (
          <div className="pool-empty">
            This pool has no slots: the StatefulSet has 0 replicas and no agent is registered. ScaleRunnerPool adds pods when jobs
            are queued, or run DeployRunnerPool with replicas above 0.
          </div>
        ) : slots.length === 0 ? (
          <div className="pool-empty">No slot matches “{filter}”.</div>
        ) : (
          <SlotTable slots={slots} now={now} />
        )}
      </div>
    </Card>
  );
}
