// How the hub words states and times; plain functions so every component says them the same way.
import * as React from 'react';
import type { SlotState } from '../../../src/core/index.js';

/** "12 s", "3 min", "2 h", "4 d": compact, for table cells. */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h`;
  return `${Math.floor(hours / 24)} d`;
}

/** "3 min ago" for an ISO time, or undefined when there is none. */
export function ago(time: string | undefined, now: Date): string | undefined {
  if (!time) return undefined;
  const at = Date.parse(time);
  return Number.isNaN(at) ? undefined : `${formatDuration(now.getTime() - at)} ago`;
}

export const stateLabels: Record<SlotState, string> = {
  busy: 'Busy',
  idle: 'Idle',
  offline: 'Offline',
  disabled: 'Disabled',
  failing: 'Pod failing',
  parked: 'Parked',
  starting: 'Pod starting',
  missing: 'No pod',
};

/** What each state means, for a reader who hovers over it. */
export const stateHints: Record<SlotState, string> = {
  busy: 'Its agent runs a job.',
  idle: 'Its agent is online and waits for a job.',
  offline: 'Its agent is registered but not connected.',
  disabled: 'Its agent takes no job: drained, or its one job is done.',
  failing: 'Its pod cannot start.',
  parked: 'Its pod waits, on no node and costing nothing, until the autoscaler starts it for a job.',
  starting: 'Its pod starts; its agent has not registered yet.',
  missing: 'Below the replica count, but there is no pod and no agent.',
};

const resultLabels: Record<string, string> = {
  succeeded: 'Succeeded',
  succeededWithIssues: 'Succeeded with issues',
  failed: 'Failed',
  canceled: 'Canceled',
  skipped: 'Skipped',
  abandoned: 'Abandoned',
};

export function resultLabel(result: string | undefined): string {
  return result ? resultLabels[result] ?? result : 'Finished';
}

/** The text a rendered node shows (its strings and numbers, in order), e.g. for a `title` that repeats a cut cell. */
export function plainText(node: React.ReactNode): string {
  if (typeof node === 'string' || typeof node === 'number') return String(node);
  if (Array.isArray(node)) return node.map(plainText).join('');
  return React.isValidElement<{ children?: React.ReactNode }>(node) ? plainText(node.props.children) : '';
}
