/**
 * The worker process's Temporal runtime: the SDK's logger, and its own Prometheus exporter on
 * TEMPORAL_METRICS_PORT (docs/operators.md). The SDK's metrics (task slots, schedule-to-start latency,
 * sticky cache, activity and workflow failures) are counted inside its Rust core, which prom-client cannot
 * see, so they get a port of their own beside the worker's /metrics (WORKER_METRICS_PORT).
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { Config } from '../config';
import type { Logger } from '../config/logger';

/**
 * Prometheus' conventions, so the SDK's series read like ours: counters end in `_total`, durations are in
 * seconds and say so (`temporal_workflow_task_schedule_to_start_latency_seconds_bucket`).
 */
const PROMETHEUS_NAMING = { countersTotalSuffix: true, unitSuffix: true, useSecondsForDurations: true };

/** `host:port` for the exporter; an IPv6 host needs brackets. */
export const bindAddressOf = (host: string, port: number): string =>
  host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;

/**
 * Installs the runtime once per process, before any connection or worker. A metrics port already taken (a
 * second worker on one host) costs the SDK's metrics, not the worker: it carries the pumps, so the runtime
 * is installed again without the exporter. Returns the address the exporter serves, if any.
 */
export function installWorkerRuntime(
  config: Pick<Config, 'logLevel' | 'temporalMetricsPort' | 'http'>,
  log: Pick<Logger, 'error'>,
): string | undefined {
  // The SDK logs every state change at INFO; keep its own output to warnings unless debugging.
  const logger = () =>
    new DefaultLogger(config.logLevel === 'debug' || config.logLevel === 'trace' ? 'DEBUG' : 'WARN');
  if (config.temporalMetricsPort > 0) {
    const bindAddress = bindAddressOf(config.http.host, config.temporalMetricsPort);
    try {
      Runtime.install({
        logger: logger(),
        telemetryOptions: { metrics: { prometheus: { bindAddress, ...PROMETHEUS_NAMING } } },
      });
      return bindAddress;
    } catch (err) {
      log.error({ err, bindAddress }, 'Temporal SDK metrics not served');
    }
  }
  Runtime.install({ logger: logger() });
  return undefined;
}
