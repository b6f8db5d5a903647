// The autoscaler's /healthz and Prometheus /metrics (prom-client), fed by its loop's events.
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AutoscalerEvents } from '../core/ports/autoscaler-events.js';
import type { AdoClient } from '../core/ports/ado.js';

export interface AutoscalerMonitor extends AutoscalerEvents {
  /** Seconds since the last pass that succeeded (since start, before the first one). */
  secondsSinceGoodPass(): number;
  close(): Promise<void>;
}

/** How the monitor decides whether the loop is healthy: a good pass at least this often. */
export interface HealthRule {
  pollSeconds: number;
}

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
  const startedAt = now();
  let lastGoodAt: number | undefined;
  const secondsSinceGoodPass = () => (now() - (lastGoodAt ?? startedAt)) / 1000;
  // Unhealthy once no pass has succeeded for six intervals (and at least two minutes): the kubelet restarts the pod.
  const healthy = () => secondsSinceGoodPass() <= Math.max(120, 6 * health.pollSeconds);
  const server: Server = createServer((req, res) => {
    if (req.url === '/healthz') {
      const ok = healthy();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(`${ok ? 'ok' : 'unhealthy'}: last good pass ${lastGoodAt === undefined ? 'none yet' : `${Math.round(secondsSinceGoodPass())} s ago`}\n`);
    } else if (req.url === '/metrics') {
      registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(text);
      }, (error: Error) => {
        res.writeHead(500);
        res.end(error.message);
      });
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((resolve) => server.listen(port, () => resolve({
    passed({ decision, look, durationMs }) {
      lastGoodAt = now();
      leading.set(1);
      lastGood.set(lastGoodAt / 1000);
      desired.set(decision.replicas);
      current.set(decision.previousReplicas);
      busy.set(decision.busyAgents);
      idle.set(look.ours.filter((agent) => agent.status === 'online' && agent.enabled && agent.busyWith === undefined).length);
      queued.set(decision.queuedJobs);
      decisions.inc({ action: decision.replicas > decision.previousReplicas ? 'scale_up' : decision.replicas < decision.previousReplicas ? 'scale_down' : /deferred/.test(decision.reason) ? 'deferred' : 'no_change' });
      duration.observe(durationMs / 1000);
    },
    passFailed(_error, transient) {
      failures.inc({ kind: transient ? 'transient' : 'refused' });
    },
    registered() {
      registrations.inc({ outcome: 'registered' });
    },
    registrationFailed() {
      registrations.inc({ outcome: 'failed' });
    },
    // A waiting autoscaler is healthy: its loop runs, ready to take over (restarting it would change nothing).
    waiting() {
      lastGoodAt = now();
      leading.set(0);
    },
    secondsSinceGoodPass,
    close: () => new Promise<void>((done) => server.close(() => done())),
  })));
}
