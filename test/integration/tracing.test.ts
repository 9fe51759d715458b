/**
 * Issue 31, traces (docs/tracing.md). Off (no OTLP endpoint) nothing of tracing is installed: the API's
 * Temporal client has no interceptors, the app's entry is not wrapped, the worker has no interceptors and no
 * span sink. On, a send through the real API is one trace: the HTTP request's server span, the client's
 * UpdateWithStartWorkflow span, the workflow's run and update handler, and the payment's local activity,
 * scheduled in the workflow and run in the worker. The worker runs a traced prebuilt bundle, as production
 * does, and both it and the API export into one in-memory exporter; the workflow's spans reach it through
 * the worker's sink.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { SpanKind } from '@opentelemetry/api';
import { bundleWorkflowCode, NativeConnection, type Worker } from '@temporalio/worker';
import express, { type Express } from 'express';
import { loadConfig } from '../../config';
import request from 'supertest';
import { createTemporal, type TemporalDeps } from '../../temporal/client';
import { startTracing, type Tracing } from '../../tracing';
import { TRACED_HANDLE } from '../../tracing/http';
import { createWorker, WORKFLOWS_PATH } from '../../workers/createWorker';
import { startCreditPumps } from '../../workers/creditPumps';
import { TRACED_WORKFLOW_MODULES } from '../../workers/workflowSource';
import { createHarness, type Harness } from '../support/harness';
import { fund, open, packetResult } from '../support/packets';

/** Empty is unset (the OpenTelemetry rule), so the developer's own shell cannot turn tracing on here. */
const TRACING_OFF = { OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '' };

const isTraced = (app: Express) => (app as unknown as Record<symbol, unknown>)[TRACED_HANDLE] === true;
const workflowInterceptorsOf = (temporal: TemporalDeps) =>
  temporal.client.workflow.options.interceptors as unknown[];

describe('tracing off: nothing is installed', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness(TRACING_OFF);
  });
  afterAll(async () => {
    await h.close();
  });

  test('no endpoint: no tracing, no client interceptors, no request wrapper, no worker interceptors or sink', async () => {
    expect(h.config.tracing).toBeUndefined();
    expect(startTracing(h.config.tracing, 'redpacket-api')).toBeUndefined();
    // The API builds its client and app exactly so (api/server.ts) when startTracing answered undefined.
    const temporal = createTemporal(h.config, undefined);
    try {
      expect(workflowInterceptorsOf(temporal)).toEqual([]);
    } finally {
      await temporal.close();
    }
    expect(isTraced(h.app({ tracing: undefined }))).toBe(false);
    const worker = await h.startWorker();
    expect(worker.options.interceptors.activity).toEqual([]);
    expect(worker.options.interceptors.client.workflow).toEqual([]);
    expect(worker.options.interceptors.workflowModules).toEqual([]);
    expect(Object.keys(worker.options.sinks ?? {})).not.toContain('exporter');
  });
});

describe('tracing on: a send is one trace', () => {
  let h: Harness;
  let tracing: Tracing;
  let temporal: TemporalDeps;
  let worker: Worker;
  let running: Promise<void>;
  let connection: NativeConnection;
  let bundleCode: string;
  const exporter = new InMemorySpanExporter();

  /** A worker as production runs it when tracing is on: the traced prebuilt bundle and the interceptors. */
  async function startTracedWorker(): Promise<void> {
    worker = await createWorker({
      connection,
      namespace: h.config.temporal.namespace,
      taskQueue: h.config.temporal.taskQueue,
      deps: {
        db: h.db,
        redis: h.redis,
        credit: h.config.credit,
        cells: h.config.cells,
        clearing: h.config.clearing,
        reconcile: { settings: h.config.reconcile },
      },
      workflowBundle: { code: bundleCode },
      tracing,
    });
    running = worker.run();
  }

  beforeAll(async () => {
    // Nothing listens there: the in-memory exporter below takes the spans instead of the OTLP one.
    h = await createHarness({ ...TRACING_OFF, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9/' });
    const started = startTracing(h.config.tracing, 'redpacket-test', {
      spanProcessor: new SimpleSpanProcessor(exporter),
    });
    if (!started) throw new Error('an OTLP endpoint is configured, yet tracing did not start');
    tracing = started;
    temporal = createTemporal(h.config, tracing);
    // The production worker's way: a prebuilt bundle that carries the workflow interceptors (scripts/build.ts).
    ({ code: bundleCode } = await bundleWorkflowCode({
      workflowsPath: WORKFLOWS_PATH,
      workflowInterceptorModules: [...TRACED_WORKFLOW_MODULES],
      logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} },
    }));
    connection = await NativeConnection.connect({ address: h.config.temporal.address });
    await startTracedWorker();
    await startCreditPumps(h.temporal.client, h.config);
  }, 180_000);

  afterAll(async () => {
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await running?.catch(() => undefined);
    await connection?.close();
    await temporal?.close();
    await h?.close();
    await tracing?.shutdown();
  });

  const spansOf = (traceId: string) =>
    exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId);

  async function waitForSpanWhere(
    matches: (span: ReadableSpan) => boolean,
    timeoutMs = 15_000,
  ): Promise<ReadableSpan> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = exporter.getFinishedSpans().find(matches);
      if (found) return found;
      if (Date.now() > deadline) throw new Error('no such span');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async function waitForSpan(traceId: string, name: string, timeoutMs = 15_000): Promise<ReadableSpan> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = spansOf(traceId).find((span) => span.name === name);
      if (found) return found;
      if (Date.now() > deadline) {
        const seen = spansOf(traceId).map((span) => span.name);
        throw new Error(`no ${name} span in trace ${traceId}; it holds ${seen.join(', ') || 'nothing'}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  test('the worker carries the interceptors and the sink, and its bundle the workflow module', () => {
    expect(worker.options.interceptors.activity).toHaveLength(1);
    expect(worker.options.interceptors.client.workflow).toHaveLength(1);
    // The prebuilt bundle already holds the workflow interceptors; the worker is given none at start.
    expect(worker.options.interceptors.workflowModules).toEqual([]);
    expect(Object.keys(worker.options.sinks ?? {})).toContain('exporter');
    expect(workflowInterceptorsOf(temporal)).toHaveLength(1);
  });

  test('HTTP span -> UpdateWithStart -> the workflow run and its update -> the payment, all one trace', async () => {
    const senderId = `traced-${randomUUID().slice(0, 8)}`;
    await fund(h, senderId, 1_000);
    const app = h.app({ temporal, tracing });
    expect(isTraced(app)).toBe(true);
    const sent = await request(app)
      .post('/v1/packets')
      .set('Authorization', `Bearer ${await h.tokenFor(senderId)}`)
      .set('Idempotency-Key', `send-${randomUUID()}`)
      .send({ type: 'fixed', amountFen: 300, count: 3, expiresInSeconds: 1 });
    expect(sent.status).toBe(201);
    const packetId = sent.body.packetId as string;

    const http = exporter.getFinishedSpans().find((span) => span.name === 'POST /v1/packets');
    if (!http) throw new Error('no server span for the send');
    const traceId = http.spanContext().traceId;
    expect(http.kind).toBe(SpanKind.SERVER);
    expect(http.parentSpanId).toBeUndefined();
    expect(http.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/v1/packets',
      'http.response.status_code': 201,
      'url.path': '/v1/packets',
    });
    expect(http.resource.attributes['service.name']).toBe('redpacket-test');

    // The workflow run's span ends when the packet does: at its one-second expiry, after settling.
    await packetResult(h, packetId);
    const run = await waitForSpan(traceId, 'RunWorkflow:packetWorkflow');
    const client = await waitForSpan(traceId, 'UpdateWithStartWorkflow:pay');
    const update = await waitForSpan(traceId, 'HandleUpdate:pay');
    const scheduled = await waitForSpan(traceId, 'StartActivity:payPacket');
    const payment = await waitForSpan(traceId, 'RunActivity:payPacket');
    const spanId = (span: ReadableSpan) => span.spanContext().spanId;

    expect(client.parentSpanId).toBe(spanId(http));
    expect(client.attributes['temporalWorkflowId']).toBe(`packet-${packetId}`);
    expect(run.parentSpanId).toBe(spanId(client));
    expect(update.parentSpanId).toBe(spanId(client));
    expect(scheduled.parentSpanId).toBe(spanId(run));
    expect(payment.parentSpanId).toBe(spanId(scheduled));
    expect(payment.attributes['temporalWorkflowId']).toBe(`packet-${packetId}`);
    // Workflow spans keep the workflow's ids and plain values only: no search attributes (the sender's id).
    expect(run.attributes).toEqual({
      workflowId: `packet-${packetId}`,
      runId: expect.any(String),
      workflowType: 'packetWorkflow',
      taskQueue: h.config.temporal.taskQueue,
      namespace: h.config.temporal.namespace,
      attempt: 1,
    });
    // The trace as an operator's backend shows it, printed for docs/tracing.md.
    const names = spansOf(traceId).map((span) => span.name);
    process.stderr.write(`[tracing] one send's trace: ${names.join(', ')}\n`);
  });

  test("the pump's all-credited signal is a span of the pump's trace, and the packet's handling its child", async () => {
    const senderId = `credited-${randomUUID().slice(0, 8)}`;
    await fund(h, senderId, 1_000);
    const sent = await request(h.app({ temporal, tracing }))
      .post('/v1/packets')
      .set('Authorization', `Bearer ${await h.tokenFor(senderId)}`)
      .set('Idempotency-Key', `send-${randomUUID()}`)
      .send({ type: 'fixed', amountFen: 200, count: 2 });
    expect(sent.status).toBe(201);
    const packetId = sent.body.packetId as string;
    const sendTrace = exporter
      .getFinishedSpans()
      .find((span) => span.attributes['temporalWorkflowId'] === `packet-${packetId}`)
      ?.spanContext().traceId;
    // Both shares opened: the pump credits them and tells the packet, which then finishes.
    await open(h, packetId, `opener-a-${senderId}`);
    await open(h, packetId, `opener-b-${senderId}`);
    await packetResult(h, packetId);
    const handled = await waitForSpanWhere(
      (span) =>
        span.name === 'HandleSignal:allCredited' && span.attributes['workflowId'] === `packet-${packetId}`,
    );
    const signalled = await waitForSpanWhere((span) => span.spanContext().spanId === handled.parentSpanId);
    expect(signalled.name).toBe('SignalWorkflow:allCredited');
    expect(signalled.attributes['temporalWorkflowId']).toBe(`packet-${packetId}`);
    // Credits are the pump's work across packets: their trace is the pump's, not the send's.
    expect(handled.spanContext().traceId).not.toBe(sendTrace);
  });

  test('a worker restart mid-packet keeps the trace whole: the replayed run span has its first ids', async () => {
    const senderId = `restart-${randomUUID().slice(0, 8)}`;
    await fund(h, senderId, 1_000);
    const sent = await request(h.app({ temporal, tracing }))
      .post('/v1/packets')
      .set('Authorization', `Bearer ${await h.tokenFor(senderId)}`)
      .set('Idempotency-Key', `send-${randomUUID()}`)
      .send({ type: 'fixed', amountFen: 300, count: 3, expiresInSeconds: 3 });
    expect(sent.status).toBe(201);
    const packetId = sent.body.packetId as string;
    const scheduled = await waitForSpanWhere(
      (span) =>
        span.name === 'StartActivity:payPacket' && span.attributes['workflowId'] === `packet-${packetId}`,
    );
    // A new worker has none of the packet in its cache: it replays the history to settle at expiry.
    worker.shutdown();
    await running;
    await startTracedWorker();
    await packetResult(h, packetId);
    const run = await waitForSpanWhere(
      (span) =>
        span.name === 'RunWorkflow:packetWorkflow' && span.attributes['workflowId'] === `packet-${packetId}`,
      30_000,
    );
    expect(run.spanContext().spanId).toBe(scheduled.parentSpanId);
    expect(run.spanContext().traceId).toBe(scheduled.spanContext().traceId);
    // Replay exported nothing twice: the payment's span left once, before the restart.
    const payments = exporter
      .getFinishedSpans()
      .filter(
        (span) =>
          span.name === 'StartActivity:payPacket' && span.attributes['workflowId'] === `packet-${packetId}`,
      );
    expect(payments).toHaveLength(1);
  }, 60_000);

  test("a grab answered by the hot lane is a server span named by the lane's route template", async () => {
    const senderId = `lane-${randomUUID().slice(0, 8)}`;
    await fund(h, senderId, 1_000);
    const { app, ctx } = h.appWithContext({ temporal, tracing });
    const laneAnswered = async () =>
      (await ctx.metrics.hotLane.get()).values.reduce((sum, value) => sum + value.value, 0);
    const sent = await request(app)
      .post('/v1/packets')
      .set('Authorization', `Bearer ${await h.tokenFor(senderId)}`)
      .set('Idempotency-Key', `send-${randomUUID()}`)
      .send({ type: 'fixed', amountFen: 200, count: 2 });
    expect(sent.status).toBe(201);
    const grab = await request(app)
      .post(`/v1/packets/${sent.body.packetId as string}/grab`)
      .set('Authorization', `Bearer ${await h.tokenFor(`grabber-${senderId}`)}`);
    expect(await laneAnswered()).toBe(1);
    const spans = exporter.getFinishedSpans().filter((span) => span.name === 'POST /v1/packets/:id/grab');
    expect(spans).toHaveLength(1);
    expect(spans[0]?.attributes).toMatchObject({
      'http.route': '/v1/packets/:id/grab',
      'http.response.status_code': grab.status,
    });
  });
});

describe('the OTLP exporter', () => {
  test('posts the spans as OTLP/HTTP JSON to <OTEL_EXPORTER_OTLP_ENDPOINT>/v1/traces, named redpacket-api', async () => {
    const received: { path: string | undefined; type: string | undefined; body: string }[] = [];
    const collector = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        received.push({ path: req.url, type: req.headers['content-type'], body });
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/`;
      const config = loadConfig({ ...TRACING_OFF, OTEL_EXPORTER_OTLP_ENDPOINT: base, OTEL_SERVICE_NAME: '' });
      expect(config.tracing?.tracesUrl).toBe(`${base}v1/traces`);
      const tracing = startTracing(config.tracing, 'redpacket-api');
      if (!tracing) throw new Error('tracing did not start');
      const app = express();
      app.get('/v1/ping/:id', (_req, res) => res.status(204).end());
      tracing.traceRequests(app);
      await request(app).get('/v1/ping/7?x=1').expect(204);
      // Spans leave in batches; shutting down exports what is buffered.
      await tracing.shutdown();
      expect(received.map(({ path, type }) => ({ path, type }))).toEqual([
        { path: '/v1/traces', type: 'application/json' },
      ]);
      const body = received[0]?.body ?? '';
      expect(body).toContain('"redpacket-api"');
      expect(body).toContain('"GET /v1/ping/:id"');
      expect(body).toContain('"/v1/ping/7"');
    } finally {
      await new Promise((resolve) => collector.close(resolve));
    }
  });
});
