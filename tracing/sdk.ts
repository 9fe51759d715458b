/**
 * The OpenTelemetry SDK, loaded only when tracing is on (tracing/index.ts). One tracer provider per process,
 * registered process-wide because Temporal's interceptors read the active context and the propagator from
 * the global API: an AsyncLocalStorage context manager, so a request's span stays current across its awaits,
 * and the W3C trace-context propagator, which writes that span into the Temporal call's headers and reads it
 * back in the worker. Spans leave in batches over OTLP/HTTP (JSON), every 5 s or 512 at a time.
 */
import { context, diag, DiagLogLevel, propagation, trace, type DiagLogger } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import {
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
  makeWorkflowExporter,
  type OpenTelemetryWorkflowExporter,
} from '@temporalio/interceptors-opentelemetry';
import type { InjectedSink } from '@temporalio/worker';
import type { WorkflowInfo } from '@temporalio/workflow';
import type { TracingSettings } from '../config';
import type { Logger } from '../config/logger';
import { TRACED_WORKFLOW_MODULES } from '../workers/workflowSource';
import { traceRequests } from './http';
import type { Tracing, TracingOptions } from './index';

/** Longest wait at shutdown for the last batch to be exported: a collector that is down must not hold a stop. */
const SHUTDOWN_EXPORT_MAX_MS = 3_000;

/** The SDK's own complaints (a refused or failed export) go to the process's log, errors only. */
function diagLoggerOf(log: Logger): DiagLogger {
  const write =
    (level: 'error' | 'warn' | 'info' | 'debug') =>
    (message: string, ...args: unknown[]) =>
      log[level]({ otel: args }, `opentelemetry: ${message}`);
  return {
    error: write('error'),
    warn: write('warn'),
    info: write('info'),
    debug: write('debug'),
    verbose: write('debug'),
  };
}

/** What a workflow span keeps of its WorkflowInfo: the ids that find the workflow, all plain values. */
const WORKFLOW_SPAN_FIELDS = [
  'workflowId',
  'runId',
  'workflowType',
  'taskQueue',
  'namespace',
  'attempt',
] as const;

/**
 * Temporal's workflow span sink, which copies the whole WorkflowInfo onto every workflow span, given only
 * WORKFLOW_SPAN_FIELDS of it: the rest (search attributes, memo, nested objects) is not a valid span
 * attribute, is a kilobyte per span, and would carry the sender's id (SenderId) into the tracing backend.
 */
function workflowSpanSink(
  spanProcessor: SpanProcessor,
  resource: Resource,
): InjectedSink<OpenTelemetryWorkflowExporter> {
  const sink = makeWorkflowExporter(spanProcessor, resource);
  const exportSpans = sink.export.fn.bind(sink.export);
  const fn: typeof exportSpans = (info, spans) => {
    const kept = Object.fromEntries(WORKFLOW_SPAN_FIELDS.map((field) => [field, info[field]]));
    return exportSpans(kept as unknown as WorkflowInfo, spans);
  };
  return { export: { ...sink.export, fn } };
}

export function createTracing(
  settings: TracingSettings,
  defaultServiceName: string,
  options: TracingOptions,
): Tracing {
  const serviceName = settings.serviceName ?? defaultServiceName;
  const resource = Resource.default().merge(new Resource({ [ATTR_SERVICE_NAME]: serviceName }));
  const spanProcessor =
    options.spanProcessor ?? new BatchSpanProcessor(new OTLPTraceExporter({ url: settings.tracesUrl }));
  const provider = new BasicTracerProvider({
    resource,
    // A caller that sent a sampled traceparent is traced whatever the ratio, so its trace has no holes.
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(settings.sampleRatio) }),
    spanProcessors: [spanProcessor],
  });
  if (options.log) diag.setLogger(diagLoggerOf(options.log), DiagLogLevel.ERROR);
  provider.register({
    contextManager: new AsyncLocalStorageContextManager().enable(),
    propagator: new W3CTraceContextPropagator(),
  });
  const tracer = provider.getTracer('redpacket');
  const interceptorOptions = { tracer };

  const clientInterceptors = () => ({
    workflow: [new OpenTelemetryWorkflowClientInterceptor(interceptorOptions)],
  });

  return {
    serviceName,
    clientInterceptors,
    workerOptions: (prebuiltBundle) => ({
      interceptors: {
        // The client that activities reach through their context: a pump's "all credited" signal is then a span
        // in the pump's trace, and the packet workflow's handling of it that span's child.
        client: clientInterceptors(),
        // Local activities run through the same activity interceptors, so the payment gets its span too.
        activity: [
          (ctx) => ({
            inbound: new OpenTelemetryActivityInboundInterceptor(ctx, interceptorOptions),
            outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
          }),
        ],
        // A prebuilt bundle cannot take modules at start (the worker would ignore them with a warning); the
        // traced bundle already holds this one.
        ...(prebuiltBundle ? {} : { workflowModules: [...TRACED_WORKFLOW_MODULES] }),
      },
      // Workflow code may not do I/O: its spans are handed out of the sandbox through this sink, into the
      // same processor as everything else, once the workflow task is done (never while replaying).
      sinks: { exporter: workflowSpanSink(spanProcessor, resource) },
    }),
    traceRequests: (app) => traceRequests(app, tracer),
    async shutdown() {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, SHUTDOWN_EXPORT_MAX_MS)));
      await Promise.race([provider.shutdown(), late]).finally(() => clearTimeout(timer));
      trace.disable();
      context.disable();
      propagation.disable();
      diag.disable();
    },
  };
}
