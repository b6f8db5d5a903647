// The autoscaler's probes (/healthz: its loop runs; /readyz: Azure DevOps answers) and Prometheus /metrics (prom-client),
// fed by its loop's events.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AutoscalerEvents } from '../core/ports/autoscaler-events.js';
import type { AdoClient } from '../core/ports/ado.js';
import { slotStartFailures } from '../core/slot-start.js';

export interface AutoscalerMonitor extends AutoscalerEvents {
  /** Seconds since the last pass that succeeded (since start, before the first one). */
  secondsSinceGoodPass(): number;
  /** The port it listens on (the one asked for, or the one given for 0). */
  port: number;
  close(): Promise<void>;
}

/** How the monitor decides whether the loop runs and whether it does its work. */
export interface HealthRule {
  pollSeconds: number;
}

/**
 * Live (/healthz, the liveness probe: the kubelet restarts it when it fails) while the loop turns: a turn began within
 * ten intervals, five minutes at least — longer than a healthy turn takes (a failing Azure DevOps call gives up after
 * 60 s; between passes stretched by a low rate budget, the loop still turns for its lease every few seconds). An outage of Azure DevOps or the API server keeps it live: a restart
 * would not bring either back. A wedged loop (a call that never returns) is restarted, and loses nothing: every pass
 * starts from the cluster and the pool as they are.
 */
export const liveSeconds = (rule: HealthRule) => Math.max(300, 10 * rule.pollSeconds);
/**
 * Ready (/readyz, the readiness probe) while Azure DevOps answers: its last pass succeeded and its loop turns (however
 * far apart a low rate budget stretches the passes), or a pass succeeded within six intervals, two minutes at least;
 * or it waits for another
 * autoscaler's lease (it has nothing to ask Azure DevOps then).
 */
export const readySeconds = (rule: HealthRule) => Math.max(120, 6 * rule.pollSeconds);

export function startAutoscalerMonitor(port: number, labels: { pool: string; runner: string; namespace: string }, ado: AdoClient, health: HealthRule, now: () => number): Promise<AutoscalerMonitor> {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  const gauge = (name: string, help: string) => new Gauge({ name: `azure_devops_runner_${name}`, help, registers: [registry] });
  const desired = gauge('desired_replicas', 'The replica count the last decision asked for.');
  const current = gauge('current_replicas', "The StatefulSet's replica count before the last decision.");
  const busy = gauge('busy_agents', 'Agents of this runner running (or reserved for) a job.');
  const idle = gauge('idle_agents', 'Agents of this runner online, enabled and without a job.');
  const queued = gauge('queued_jobs', 'Waiting jobs this runner counts (each waiting job is counted by one runner of the pool).');
  const lastGood = gauge('last_good_pass_timestamp_seconds', 'When the last pass succeeded (Unix time).');
  new Gauge({ name: 'azure_devops_runner_ado_calls', help: 'Azure DevOps calls sent since start (each attempt counts).', registers: [registry], collect() { this.set(ado.calls); } });
  new Gauge({ name: 'azure_devops_runner_ado_throttled_seconds', help: 'Seconds spent waiting on Azure DevOps throttling (429, Retry-After) since start.', registers: [registry], collect() { this.set(ado.throttledSeconds); } });
  new Gauge({ name: 'azure_devops_runner_ado_rate_limit_remaining', help: 'The last X-RateLimit-Remaining Azure DevOps sent (-1: none seen).', registers: [registry], collect() { this.set(ado.rateLimit?.remaining ?? -1); } });
  const decisions = new Counter({ name: 'azure_devops_runner_decisions_total', help: 'Scaling decisions by what they did.', labelNames: ['action'], registers: [registry] });
  const failures = new Counter({ name: 'azure_devops_runner_pass_failures_total', help: 'Passes that failed, by kind.', labelNames: ['kind'], registers: [registry] });
  const registrations = new Counter({ name: 'azure_devops_runner_registrations_total', help: 'Agent registrations of new runner pods, by outcome.', labelNames: ['outcome'], registers: [registry] });
  const leading = new Gauge({ name: 'azure_devops_runner_leader', help: '1 while this autoscaler holds the runner\'s lease and acts, 0 while another one does.', registers: [registry] });
  const duration = new Histogram({ name: 'azure_devops_runner_pass_duration_seconds', help: 'How long a pass took.', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [registry] });
  // A gauge of the slots stuck now, not a counter of sightings: "are slots stuck, and why" is the question (an alert on
  // > 0 for some minutes); a pass counts nothing an operator can use, and every cause has its series, 0 when none.
  const slotStartFailuresNow = new Gauge({
    name: 'azure_devops_runner_slot_start_failures',
    help: 'Slots whose pod cannot start now, by why: imagePull, unschedulable, quota (a refused create), crashBeforeRegistration, serviceNotReady (a service never passed its ready= probe).',
    labelNames: ['reason'],
    registers: [registry],
  });
  for (const reason of slotStartFailures) slotStartFailuresNow.set({ reason }, 0);
  const jobWait = new Histogram({
    name: 'azure_devops_runner_job_wait_seconds',
    help: "From a job's queueing to its receipt by one of this runner's agents, by pipeline (jobs shorter than a poll are not seen).",
    labelNames: ['pipeline'],
    buckets: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600],
    registers: [registry],
  });
  const startedAt = now();
  let lastGoodAt: number | undefined;
  let lastTurnAt = startedAt;
  let lastFailure: string | undefined;
  const secondsSinceGoodPass = () => (now() - (lastGoodAt ?? startedAt)) / 1000;
  const secondsSinceTurn = () => (now() - lastTurnAt) / 1000;
  const answer = (res: ServerResponse, ok: boolean, text: string) => {
    res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
    res.end(`${ok ? 'ok' : 'failing'}: ${text}\n`);
  };
  const server: Server = createServer((req, res) => {
    if (req.url === '/healthz') {
      answer(res, secondsSinceTurn() <= liveSeconds(health), `the loop last turned ${Math.round(secondsSinceTurn())} s ago`);
    } else if (req.url === '/readyz') {
      const good = lastGoodAt === undefined ? 'none yet' : `${Math.round(secondsSinceGoodPass())} s ago`;
      const lastPassGood = lastFailure === undefined && secondsSinceTurn() <= liveSeconds(health);
      answer(res, lastGoodAt !== undefined && (lastPassGood || secondsSinceGoodPass() <= readySeconds(health)), `last good pass ${good}${lastFailure === undefined ? '' : `; last failure: ${lastFailure}`}`);
    } else if (req.url === '/metrics') {
      registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(text);
      }, (error: unknown) => {
        res.writeHead(500);
        res.end(error instanceof Error ? error.message : String(error));
      });
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((resolve) => server.listen(port, () => resolve({
    port: (server.address() as AddressInfo).port,
    turning() {
      lastTurnAt = now();
    },
    passed({ decision, look, durationMs, jobsStarted, stuck }) {
      lastGoodAt = now();
      lastFailure = undefined;
      leading.set(1);
      lastGood.set(lastGoodAt / 1000);
      desired.set(decision.replicas);
      current.set(decision.previousReplicas);
      busy.set(decision.busyAgents);
      idle.set(look.ours.filter((agent) => agent.status === 'online' && agent.enabled && agent.busyWith === undefined).length);
      queued.set(decision.queuedJobs);
      decisions.inc({ action: decision.action });
      duration.observe(durationMs / 1000);
      for (const job of jobsStarted) jobWait.observe({ pipeline: job.pipeline }, job.waitSeconds);
      for (const reason of slotStartFailures) slotStartFailuresNow.set({ reason }, stuck.filter((slot) => slot.reason === reason).length);
    },
    passFailed(error, transient) {
      lastFailure = error.message;
      failures.inc({ kind: transient ? 'transient' : 'refused' });
    },
    registered() {
      registrations.inc({ outcome: 'registered' });
    },
    registrationFailed() {
      registrations.inc({ outcome: 'failed' });
    },
    // A waiting autoscaler is live and ready: its loop runs, ready to take over (restarting it would change nothing).
    waiting() {
      lastGoodAt = now();
      leading.set(0);
    },
    secondsSinceGoodPass,
    close: () => new Promise<void>((done) => server.close(() => done())),
  })));
}
