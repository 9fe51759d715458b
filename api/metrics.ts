/**
 * Prometheus metrics. `createMetrics()` builds a fresh registry with every metric of the service, so each
 * process (and each test) owns its own and nothing leaks through prom-client's global registry. Other
 * modules receive the `Metrics` object and update the counters they own: the grab and open paths record
 * outcomes, the signal coalescer counts signals, the credit path observes lag and pending credits.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { bearerTokenOf } from './auth';
import { Problem } from './problems';

export type StatusClass = '2xx' | '3xx' | '4xx' | '5xx';

export interface Metrics {
  registry: Registry;
  /** Every HTTP request, by route template (not the raw path, which would explode cardinality). */
  httpRequestDuration: Histogram<'method' | 'route' | 'status_class'>;
  /** Requests the hot lane answered (api/hotLane.ts), by route template; the rest went through the app. */
  hotLane: Counter<'route'>;
  /** Grab answers: granted, exhausted, expired, already_claimed, not_allowed, rate_limited, ... */
  grabOutcomes: Counter<'outcome'>;
  /** Open answers: opened, replayed, no_hold, expired, ... */
  openOutcomes: Counter<'outcome'>;
  /** Seconds from a claim's commit to its credit transfer's commit. */
  creditLagSeconds: Histogram<never>;
  /** Claims opened and not yet credited, as last observed. */
  pendingCredits: Gauge<never>;
  /** Temporal signals sent, by signal name (after coalescing). */
  signalsSent: Counter<'signal'>;
  /** Requests refused with 429, by limiter scope. */
  rateLimited: Counter<'scope'>;
  /** Idempotency-Key outcomes: started, replayed, in_flight, reused. */
  idempotency: Counter<'outcome'>;
  /** Cross-cell credits this (home) cell received: applied, replayed, conflict, refused (docs/cells.md). */
  xcredits: Counter<'outcome'>;
  /** 1 while a dependency is down and the API runs degraded (e.g. Redis: no gate, memory rate limits). */
  degraded: Gauge<'dependency'>;
  /** 1 when the last readiness check (a /readyz call or a scrape) found every dependency answering. */
  ready: Gauge<never>;
  /** The last readiness check, per dependency: 1 answered, 0 down. */
  dependencyUp: Gauge<'dependency'>;
  /** Requests forwarded to the cell that owns them (api/cells/), by cell and outcome: answered, unavailable. */
  cellForwards: Counter<'cell' | 'outcome'>;
  /** Requests refused by load shedding (api/overload/), by class and reason (pressure, open_latency, in_flight). */
  overloadShed: Counter<'class' | 'reason'>;
  /** The shedder's CPU pressure (0: none shed, 1: every grab, 2: every open too) and the lag driving it. */
  overloadPressure: Gauge<never>;
  overloadLagSeconds: Gauge<never>;
  /** The open-latency pressure (0..1: that share of grabs and reads, never opens) and the estimate driving it. */
  overloadOpenLatencyPressure: Gauge<never>;
  overloadOpenLatencySeconds: Gauge<never>;
  /** Requests in flight per admission budget (storm, send, money). */
  overloadInFlight: Gauge<'budget'>;
  /** The adaptive limit on sends in flight (api/overload/admission.ts LatencyLimit). */
  overloadSendLimit: Gauge<never>;
  /** Set by the shedder: refreshes the overload gauges above when /metrics is scraped, never per request. */
  readOverload: (() => void) | undefined;
}

const PREFIX = 'redpacket_';
/** Most requests finish in a few milliseconds; the tail buckets catch Postgres or Temporal stalls. */
const HTTP_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Credits land in waves, so lag is tens of milliseconds to seconds, minutes when a wave keeps failing. */
const CREDIT_LAG_BUCKETS_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900];

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  // Process metrics (CPU, heap, event loop lag) are for real processes; tests leave them off.
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: PREFIX });
  const registers = [registry];
  const metrics: Metrics = {
    registry,
    readOverload: undefined,
    overloadShed: new Counter({
      name: `${PREFIX}overload_shed_total`,
      help: 'Requests refused by load shedding (503 overloaded), by class and reason',
      labelNames: ['class', 'reason'],
      registers,
    }),
    overloadPressure: new Gauge({
      name: `${PREFIX}overload_pressure`,
      help: 'Load shedding pressure from the event-loop lag: 0 none shed, 0..1 that share of grabs, 1..2 every grab and that share of opens',
      registers,
      collect: () => metrics.readOverload?.(),
    }),
    overloadLagSeconds: new Gauge({
      name: `${PREFIX}overload_loop_lag_seconds`,
      help: 'The event-loop lag load shedding last sampled',
      registers,
    }),
    overloadOpenLatencyPressure: new Gauge({
      name: `${PREFIX}overload_open_latency_pressure`,
      help: 'Load shedding pressure from the opens latency: 0..1 that share of grabs and reads refused, never opens',
      registers,
    }),
    overloadOpenLatencySeconds: new Gauge({
      name: `${PREFIX}overload_open_latency_seconds`,
      help: 'The opens latency (90th percentile, admission to answer) load shedding last estimated; 0 with too few opens',
      registers,
    }),
    overloadInFlight: new Gauge({
      name: `${PREFIX}overload_in_flight`,
      help: 'Requests in flight per admission budget (storm, send, money)',
      labelNames: ['budget'],
      registers,
    }),
    overloadSendLimit: new Gauge({
      name: `${PREFIX}overload_send_limit`,
      help: 'Sends one API process lets wait on Temporal now, steered by their latency',
      registers,
    }),
    httpRequestDuration: new Histogram({
      name: `${PREFIX}http_request_duration_seconds`,
      help: 'HTTP request duration by method, route template and status class',
      labelNames: ['method', 'route', 'status_class'],
      buckets: HTTP_BUCKETS_SECONDS,
      registers,
    }),
    cellForwards: new Counter({
      name: `${PREFIX}cell_forwards_total`,
      help: 'Requests forwarded to the cell that owns them, by cell and outcome (answered, unavailable)',
      labelNames: ['cell', 'outcome'],
      registers,
    }),
    hotLane: new Counter({
      name: `${PREFIX}http_hot_lane_total`,
      help: 'Grabs and opens answered by the hot lane instead of the full app, by route template',
      labelNames: ['route'],
      registers,
    }),
    grabOutcomes: new Counter({
      name: `${PREFIX}grab_outcomes_total`,
      help: 'Grab answers by outcome',
      labelNames: ['outcome'],
      registers,
    }),
    openOutcomes: new Counter({
      name: `${PREFIX}open_outcomes_total`,
      help: 'Open answers by outcome',
      labelNames: ['outcome'],
      registers,
    }),
    creditLagSeconds: new Histogram({
      name: `${PREFIX}credit_lag_seconds`,
      help: 'Seconds from a claim being opened to its credit transfer',
      buckets: CREDIT_LAG_BUCKETS_SECONDS,
      registers,
    }),
    pendingCredits: new Gauge({
      name: `${PREFIX}pending_credits`,
      help: 'Claims opened and not yet credited (counted up to 100000)',
      registers,
    }),
    signalsSent: new Counter({
      name: `${PREFIX}signals_sent_total`,
      help: 'Temporal signals the API sent; none since the credit pump (the claim row is the credit message)',
      labelNames: ['signal'],
      registers,
    }),
    rateLimited: new Counter({
      name: `${PREFIX}rate_limited_total`,
      help: 'Requests refused with 429 by limiter scope',
      labelNames: ['scope'],
      registers,
    }),
    idempotency: new Counter({
      name: `${PREFIX}idempotency_total`,
      help: 'Idempotency-Key outcomes',
      labelNames: ['outcome'],
      registers,
    }),
    xcredits: new Counter({
      name: `${PREFIX}xcredits_total`,
      help: 'Cross-cell credits received from packet cells, by outcome (conflict and refused are alarms)',
      labelNames: ['outcome'],
      registers,
    }),
    degraded: new Gauge({
      name: `${PREFIX}degraded`,
      help: '1 while the API runs degraded because a dependency is down',
      labelNames: ['dependency'],
      registers,
    }),
    ready: new Gauge({
      name: `${PREFIX}ready`,
      help: '1 when the last readiness check found Postgres, Redis and Temporal answering (as /readyz)',
      registers,
    }),
    dependencyUp: new Gauge({
      name: `${PREFIX}dependency_up`,
      help: 'The last readiness check per dependency: 1 answered, 0 down',
      labelNames: ['dependency'],
      registers,
    }),
  };
  return metrics;
}

export function statusClass(status: number): StatusClass {
  if (status >= 500) return '5xx';
  if (status >= 400) return '4xx';
  if (status >= 300) return '3xx';
  return '2xx';
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * The check of a scrape: with a token configured (METRICS_TOKEN), `/metrics` answers only a request that
 * sends `Authorization: Bearer <token>` (Prometheus: `authorization` in the scrape config), 401 otherwise;
 * without one it is open, as before. Digests are compared in constant time, so the answer's timing does
 * not give the token away byte by byte.
 */
export function metricsScrapeGuard(token: string | undefined): (req: Request, res: Response) => void {
  if (token === undefined) return () => undefined;
  const expected = digest(token);
  return (req, res) => {
    const sent = bearerTokenOf(req.headers.authorization);
    if (sent !== undefined && timingSafeEqual(digest(sent), expected)) return;
    res.setHeader('WWW-Authenticate', 'Bearer realm="metrics"');
    throw new Problem(401, 'unauthorized', 'Unauthorized', 'This endpoint needs the metrics bearer token.');
  };
}
