/**
 * Load shedding in front of everything (docs/overload.md): `mountShedder` wraps `app.handle` outside the hot
 * lane, so a storm's grabs and opens, which the lane answers before Express, pass the same admission as every
 * Express route. A request is classified from its method and path alone (no parsing, no token), admitted or
 * refused by `Admission` (admission.ts), and a refusal is answered at once on Node's own response: 503, a
 * problem+json body with the stable code `overloaded`, `Retry-After`, built once per class at start. A shed
 * request reaches no use case, no idempotency record, no rate-limit counter and no dependency, so it changes
 * nothing and a client may retry it as it is (a send with the same Idempotency-Key).
 *
 * Health, readiness, metrics, the documents, admin and cell-internal calls are never shed: operators and
 * other cells need them most when the process is loaded.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Express } from 'express';
import type { OverloadSettings } from '../../config';
import type { Logger } from '../../config/logger';
import type { Metrics } from '../metrics';
import { PROBLEM_CONTENT_TYPE } from '../problems';
import { Admission, SHED_CLASSES, type ShedClass, type ShedReason } from './admission';
import {
  NO_OPEN_LATENCY,
  OpenLatencyController,
  startOpenLatencySampler,
  type OpenLatencySignal,
} from './openLatency';
import { processPressure, type PressureController, type PressureSource } from './pressure';

export const OVERLOADED = 'overloaded';
/** At most one line per this long while shedding, with the counts since the last one. */
const LOG_EVERY_MS = 10_000;

type Handle = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;

/** What each class is told; a send is told that nothing was paid, so the same key may be retried. */
const SHED_DETAIL: Readonly<Record<ShedClass, string>> = {
  grab: 'The service is shedding load; no hold was taken. Retry after Retry-After seconds.',
  read: 'The service is shedding load. Retry after Retry-After seconds.',
  open: 'The service is shedding load; the hold is kept until it lapses. Retry after Retry-After seconds.',
  send: 'The service is shedding load; nothing was sent or paid. Retry with the same Idempotency-Key after Retry-After seconds.',
  money: 'The service is shedding load. Retry after Retry-After seconds.',
};

/** The answer's body and headers, per class: built once, written as they are. */
function shedAnswers(retryAfterSeconds: number) {
  const answers = {} as Record<ShedClass, { body: Buffer; headers: Record<string, string | number> }>;
  for (const cls of SHED_CLASSES) {
    const body = Buffer.from(
      JSON.stringify({
        type: `https://redpacket.dev/problems/${OVERLOADED}`,
        title: 'Service overloaded',
        status: 503,
        code: OVERLOADED,
        detail: SHED_DETAIL[cls],
        class: cls,
      }),
    );
    answers[cls] = {
      body,
      headers: {
        'Content-Type': `${PROBLEM_CONTENT_TYPE}; charset=utf-8`,
        'Content-Length': body.length,
        'Retry-After': String(retryAfterSeconds),
        'Cache-Control': 'no-store',
      },
    };
  }
  return answers;
}

/** Without its query; a path with none is returned as it is (no copy). */
const pathOf = (url: string) => {
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
};

/** The class of a request from its method and path, or undefined for what is never shed. */
export function classify(method: string | undefined, url: string | undefined): ShedClass | undefined {
  if (url === undefined || !url.startsWith('/v1/')) return undefined;
  const path = pathOf(url);
  if (method === 'POST') {
    if (path === '/v1/packets') return 'send';
    if (!path.startsWith('/v1/packets/')) return undefined;
    if (path.endsWith('/grab')) return 'grab';
    if (path.endsWith('/open')) return 'open';
    return undefined;
  }
  if (method !== 'GET' && method !== 'HEAD') return undefined;
  if (path === '/v1/me/balance' || path === '/v1/me/bills') return 'money';
  if (path.startsWith('/v1/packets/') || path.startsWith('/v1/me/packets/')) return 'read';
  return undefined;
}

const CLASS = Symbol('shedClass');
/** When a send or an open was admitted: a send's latency steers the send limit, an open's its pressure. */
const ADMITTED_MS = Symbol('admittedMs');
type Admitted = ServerResponse & { [CLASS]?: ShedClass; [ADMITTED_MS]?: number };

export interface OverloadGuard {
  readonly admission: Admission;
  readonly pressure: PressureSource;
  /** The opens' latency and the pressure it puts on grabs and reads (openLatency.ts); inert when off. */
  readonly openLatency: OpenLatencySignal;
  /** Writes the shed answer and counts it. */
  shed(res: ServerResponse, cls: ShedClass, reason: ShedReason): void;
  /** A response's 'close' listener (its `this`): releases the class the response was admitted in. */
  readonly onClose: (this: ServerResponse) => void;
}

export function createOverloadGuard(
  settings: OverloadSettings,
  metrics: Metrics,
  log: Logger,
  pressure: PressureSource = processPressure(settings.lagTargetMs),
): OverloadGuard {
  // The open-latency signal is this app's (its opens, its Postgres), ticked by a timer of its own; per app
  // rather than per process as the lag is, since two cells in one process open against two databases.
  const { openLatencyTargetMs } = settings;
  const controller = openLatencyTargetMs > 0 ? new OpenLatencyController(openLatencyTargetMs) : undefined;
  const openLatency: OpenLatencySignal = controller ?? NO_OPEN_LATENCY;
  const admission = new Admission(settings, pressure, openLatency);
  if (controller) startOpenLatencySampler(controller, () => admission.opensInFlight);
  const answers = shedAnswers(settings.retryAfterSeconds);
  // prom-client hashes a label object per call; the few label sets are looked up once.
  const counters = new Map<string, { inc: () => void }>();
  const counterOf = (cls: ShedClass, reason: ShedReason) => {
    const key = `${cls} ${reason}`;
    let counter = counters.get(key);
    if (!counter) counters.set(key, (counter = metrics.overloadShed.labels({ class: cls, reason })));
    return counter;
  };
  let shedSinceLog = 0;
  let lastLogMs = 0;
  metrics.readOverload = () => {
    metrics.overloadPressure.set(pressure.level);
    metrics.overloadLagSeconds.set(((pressure as Partial<PressureController>).lagMs ?? 0) / 1000);
    metrics.overloadOpenLatencyPressure.set(openLatency.level);
    metrics.overloadOpenLatencySeconds.set(openLatency.latencyMs / 1000);
    for (const [budget, count] of Object.entries(admission.inFlight))
      metrics.overloadInFlight.set({ budget }, count);
    metrics.overloadSendLimit.set(admission.sendLimit.value);
  };
  return {
    admission,
    pressure,
    openLatency,
    shed(res, cls, reason) {
      const answer = answers[cls];
      res.writeHead(503, answer.headers);
      res.end(answer.body);
      counterOf(cls, reason).inc();
      shedSinceLog++;
      const nowMs = Date.now();
      if (nowMs - lastLogMs < LOG_EVERY_MS) return;
      log.warn(
        {
          shed: shedSinceLog,
          pressure: pressure.level,
          openLatencyPressure: openLatency.level,
          openLatencyMs: openLatency.latencyMs,
          inFlight: admission.inFlight,
          class: cls,
          reason,
        },
        'shedding load',
      );
      lastLogMs = nowMs;
      shedSinceLog = 0;
    },
    onClose: function (this: Admitted) {
      const cls = this[CLASS];
      if (cls === undefined) return;
      const admittedMs = this[ADMITTED_MS];
      if (admittedMs === undefined) return admission.release(cls);
      const nowMs = performance.now();
      admission.release(cls, nowMs - admittedMs, nowMs);
    },
  };
}

/**
 * Puts admission in front of `app` (outside the hot lane: call it after mountHotLane). With shedding off
 * (`guard` undefined) nothing is mounted and no request pays anything.
 */
export function mountShedder(app: Express, guard: OverloadGuard | undefined): void {
  if (!guard) return;
  const appWithHandle = app as unknown as { handle: Handle };
  const inner = appWithHandle.handle.bind(app);
  const { admission } = guard;
  appWithHandle.handle = (req, res, next) => {
    const cls = classify(req.method, req.url);
    if (cls === undefined) return inner(req, res, next);
    const refused = admission.admit(cls);
    if (refused !== undefined) return guard.shed(res, cls, refused);
    // One shared listener per request, no closure: the class rides on the response.
    (res as Admitted)[CLASS] = cls;
    if (cls === 'send' || cls === 'open') (res as Admitted)[ADMITTED_MS] = performance.now();
    res.on('close', guard.onClose);
    inner(req, res, next);
  };
}
