/**
 * OpenTelemetry traces (docs/tracing.md): one trace from the HTTP request through the Temporal client, the
 * workflow and its activities, exported over OTLP/HTTP when an endpoint is configured.
 *
 * Off (no OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) `startTracing` returns undefined
 * and loads nothing: no SDK, no tracer provider, no context manager, no client or worker interceptors, no
 * request wrapper and no workflow interceptor module. Every caller asks `tracing?.` once, while it builds
 * its client, app or worker, never per request, so the storm's hot path is the same code it was before
 * tracing existed. This file imports the SDK's types only; tracing/sdk.ts, which loads it, is required
 * below and only when tracing is on.
 */
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ClientInterceptors } from '@temporalio/client';
import type { WorkerOptions } from '@temporalio/worker';
import type { Express } from 'express';
import type { TracingSettings } from '../config';
import type { Logger } from '../config/logger';

export interface Tracing {
  /** The service.name on every span this process exports. */
  serviceName: string;
  /** For a Temporal client: each workflow call a span, whose context travels in the call's headers. */
  clientInterceptors(): ClientInterceptors;
  /**
   * For a worker: activity interceptors (local activities included), the sink through which workflow spans
   * leave the workflow sandbox, and the workflow interceptor module unless the worker runs a prebuilt bundle,
   * which must then be the traced one (workers/workflowSource.ts).
   */
  workerOptions(prebuiltBundle: boolean): Pick<WorkerOptions, 'interceptors' | 'sinks'>;
  /** Makes every request `app` answers a server span, the hot lane's included (tracing/http.ts). */
  traceRequests(app: Express): void;
  /** Exports what is still buffered and removes the process-wide registrations. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** Where spans go instead of the OTLP exporter's batches; tests pass an in-memory exporter's processor. */
  spanProcessor?: SpanProcessor;
  /** Receives the SDK's own errors (an export the collector refused, say). */
  log?: Logger;
}

/**
 * Tracing for this process, or undefined when `settings` is (tracing off). `defaultServiceName` names the
 * process when OTEL_SERVICE_NAME does not: redpacket-api or redpacket-worker.
 */
export function startTracing(
  settings: TracingSettings | undefined,
  defaultServiceName: string,
  options: TracingOptions = {},
): Tracing | undefined {
  if (!settings) return undefined;
  // Required here rather than imported at the top so that with tracing off the SDK is never even loaded: no
  // start-up time and no heap for it in an API capped at 128 MB.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sdk = require('./sdk') as typeof import('./sdk');
  return sdk.createTracing(settings, defaultServiceName, options);
}
