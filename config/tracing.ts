/**
 * OpenTelemetry traces (docs/tracing.md): where spans go, under which service name, and how many requests
 * start a trace. Read from the validated environment by config/index.ts. No endpoint means tracing is off,
 * and then nothing of it is installed (tracing/index.ts).
 */

export interface TracingSettings {
  /** The OTLP/HTTP traces URL spans are posted to, e.g. http://collector:4318/v1/traces. */
  tracesUrl: string;
  /** OTEL_SERVICE_NAME; undefined: the process's own default (redpacket-api, redpacket-worker). */
  serviceName: string | undefined;
  /** The share of traces started here that are recorded, 0 to 1; a caller's sampled traceparent wins. */
  sampleRatio: number;
}

/**
 * The OpenTelemetry specification's rule: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is the traces URL as it is;
 * OTEL_EXPORTER_OTLP_ENDPOINT is a base URL to which the signal's path, v1/traces, is appended.
 */
export function tracesUrlOf(base: string | undefined, traces: string | undefined): string | undefined {
  if (traces) return traces;
  if (!base) return undefined;
  return `${base.replace(/\/+$/, '')}/v1/traces`;
}

export function parseTracing(env: {
  OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined;
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string | undefined;
  OTEL_SERVICE_NAME?: string | undefined;
  OTEL_TRACES_SAMPLER_ARG: number;
}): TracingSettings | undefined {
  const tracesUrl = tracesUrlOf(env.OTEL_EXPORTER_OTLP_ENDPOINT, env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  if (!tracesUrl) return undefined;
  return { tracesUrl, serviceName: env.OTEL_SERVICE_NAME, sampleRatio: env.OTEL_TRACES_SAMPLER_ARG };
}
