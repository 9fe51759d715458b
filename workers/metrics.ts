/**
 * The worker's Prometheus metrics (docs/operators.md, docs/reconciliation.md): its own registry, the
 * reconciler's gauges and counter, set by the reconcile activity in the process that ran it, the credit
 * pumps' figures (workers/pumpMetrics.ts), and a small /metrics server on WORKER_METRICS_PORT (0: none). The
 * API keeps its own registry (api/metrics.ts); the Temporal SDK's metrics have their own port
 * (TEMPORAL_METRICS_PORT, workers/runtime.ts).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { CreditPumpMetrics } from '../activities/creditPumpMetrics';
import type { ReconcileMetrics } from '../activities/reconcile';
import type { ReconcileReport } from '../saga';
import { createPumpMetrics } from './pumpMetrics';

export interface WorkerMetrics extends ReconcileMetrics {
  registry: Registry;
  /** Violations by check in the last run this process made; alert on any above 0. */
  auditViolations: Gauge<'check'>;
  /** Repairs made (gates, caches, adopted packets), by kind. */
  repairs: Counter<'kind'>;
  /** Unix seconds when the last run this process made finished; alert when it stops moving. */
  lastRunSeconds: Gauge<never>;
  lastRunDurationSeconds: Gauge<never>;
  /** Set by the credit pumps' activity while it runs in this process. */
  pump: CreditPumpMetrics;
}

export function createWorkerMetrics(options: { defaultMetrics?: boolean } = {}): WorkerMetrics {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'redpacket_worker_' });
  const auditViolations = new Gauge({
    name: 'redpacket_audit_violations',
    help: 'Violations found by the last reconciliation run in this worker, by check',
    labelNames: ['check'],
    registers: [registry],
  });
  const repairs = new Counter({
    name: 'redpacket_reconcile_repairs_total',
    help: 'Repairs made by reconciliation runs in this worker, by kind',
    labelNames: ['kind'],
    registers: [registry],
  });
  const lastRunSeconds = new Gauge({
    name: 'redpacket_reconcile_last_run_timestamp_seconds',
    help: 'When the last reconciliation run in this worker finished (Unix seconds)',
    registers: [registry],
  });
  const lastRunDurationSeconds = new Gauge({
    name: 'redpacket_reconcile_last_run_duration_seconds',
    help: 'How long the last reconciliation run in this worker took',
    registers: [registry],
  });
  return {
    registry,
    auditViolations,
    repairs,
    lastRunSeconds,
    lastRunDurationSeconds,
    pump: createPumpMetrics(registry),
    record(report: ReconcileReport) {
      for (const [check, count] of Object.entries(report.countsByCheck))
        auditViolations.set({ check }, count);
      for (const { kind } of report.repairs) repairs.inc({ kind });
      lastRunSeconds.set((report.startedAtMs + report.durationMs) / 1000);
      lastRunDurationSeconds.set(report.durationMs / 1000);
    },
  };
}

/** Serves GET /metrics from `registry`; resolves once listening. */
export async function serveMetrics(registry: Registry, port: number, host: string): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry
      .metrics()
      .then((body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body))
      .catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

export const portOf = (server: Server): number => (server.address() as AddressInfo).port;
