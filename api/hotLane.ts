/**
 * The hot lane. In a storm almost every request is a grab (or an open) in one shape: POST, a bearer token,
 * no body, no query, no Idempotency-Key. Walking the whole app for each one (Express's prototype swaps and
 * router, the logging and metrics middleware's listeners, the percent-escape check, the JSON parser, zod
 * parsing of params, query and body, the pipeline's per-request objects) cost more CPU than the grab itself.
 * The lane sits in front of Express (`mountHotLane` wraps `app.handle`) and answers exactly that shape on
 * Node's own request and response. It runs the steps declared for grab and open (routes/gated.ts, the same
 * steps their Express routes run: authentication, the id's shape, the limits, the action, the reply), around
 * which it does what the app's middleware would: the request id (logging.ts's rule), the request's duration
 * metric and, for a slow answer, logging.ts's line (a 5xx is the app's, below). The IP is Express's own
 * `req.ip`, so `trust proxy` applies.
 *
 * Anything else goes to Express untouched and is answered there: another shape, a request that a declared
 * admit step refuses (a token that does not verify, a malformed id: Express runs the same steps again and
 * charges the IP limit, which the lane has not), and every request when every request gets a line (LOG_LEVEL
 * debug or below, where pino-http describes the matched route). Production (info, the default) prints no
 * request lines, so the lane serves it (logging.ts). An unexpected error is handed to Express too, which
 * passes it to its error handler, so it is logged and counted as any 5xx.
 * test/integration/hotLane.test.ts checks that both ways answer alike.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type Express } from 'express';
import type { AppContext } from './context';
import { isLoggedFinish, logFinishedRequest, requestIdOf, requestLinesLogged } from './logging';
import { statusClass } from './metrics';
import { outgoing, send, sendRefusal, type Reply } from './reply';
import { GATED_ROUTES, GatedCall, runSteps, type GatedActionName } from './routes/gated';

/** GATED_ROUTES' paths with a concrete id and no query string. */
const GATED_PATH = /^\/v1\/packets\/([^/?]+)\/(grab|open)$/;

/** Where the lane leaves an unexpected error for Express, which hands it to its error handler. */
const LANE_ERROR = Symbol('hotLaneError');

type Handle = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;
type LaneResponse = ServerResponse & { locals?: Record<string, unknown> };

function hasNoBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length === undefined || length === '0') && req.headers['transfer-encoding'] === undefined;
}

/**
 * Express's own `req.ip` getter, called on the few fields it reads (`app`, `headers`, `socket`): the lane's
 * IP limit keys on exactly the address the app's would, `trust proxy` included, without giving every storm
 * request Express's prototypes.
 */
function expressIpOf(app: Express): (req: IncomingMessage) => string | undefined {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called below with an explicit receiver
  const getter = Object.getOwnPropertyDescriptor(express.request, 'ip')?.get as
    ((this: object) => string | undefined) | undefined;
  if (!getter) throw new Error("Express's request has no ip getter");
  return (req) => getter.call({ app, headers: req.headers, socket: req.socket });
}

/** Answers what the lane takes and hands everything else (and unexpected errors) to Express. */
function hotLane(ctx: AppContext, ipOf: (req: IncomingMessage) => string | undefined, toApp: Handle): Handle {
  // prom-client hashes a label object on every call; the lane's few label sets are looked up once.
  const taken = {
    grab: ctx.metrics.hotLane.labels({ route: GATED_ROUTES.grab }),
    open: ctx.metrics.hotLane.labels({ route: GATED_ROUTES.open }),
  };
  const durations = new Map<string, { observe: (seconds: number) => void }>();
  const durationOf = (route: string, status: number) => {
    const statusLabel = statusClass(status);
    const key = `${route} ${statusLabel}`;
    let child = durations.get(key);
    if (!child) {
      child = ctx.metrics.httpRequestDuration.labels({ method: 'POST', route, status_class: statusLabel });
      durations.set(key, child);
    }
    return child;
  };

  /** Answers the call, or returns false, having written nothing, when an admit step refuses it. */
  async function answer(req: IncomingMessage, res: LaneResponse, call: GatedCall): Promise<boolean> {
    const startedAtNs = process.hrtime.bigint();
    try {
      const admitting = runSteps(ctx.gated.admit, call);
      if (admitting) await admitting;
    } catch {
      return false;
    }
    const route = GATED_ROUTES[call.action];
    // What the logging middleware would have given this request: its id, echoed as X-Request-Id. res.locals
    // carries the ids a 5xx line names and the route its duration is labelled with, should Express answer.
    const requestId = requestIdOf(req, res);
    call.locals['route'] = route;
    res.locals = call.locals;
    taken[call.action].inc();
    try {
      const acting = runSteps(ctx.gated.act, call);
      if (acting) await acting;
      send(res, outgoing(call.reply as Reply, 200));
    } catch (err) {
      // A 4xx is answered here; anything else goes to the app's error handler (the caller hands it over).
      if (!sendRefusal(res, err, req.url ?? '')) throw err;
    }
    // Measured to the last write, where the app's middleware measured to 'finish': one listener fewer.
    const durationMs = Number(process.hrtime.bigint() - startedAtNs) / 1e6;
    durationOf(route, res.statusCode).observe(durationMs / 1e3);
    // The line's fields are gathered only for a request that gets one: the storm's answers get none.
    if (isLoggedFinish(res.statusCode, durationMs, ctx.config.logSlowRequestMs))
      logFinishedRequest(ctx.log, ctx.config.logSlowRequestMs, {
        id: requestId,
        method: req.method,
        url: req.url,
        statusCode: res.statusCode,
        durationMs,
        locals: call.locals,
      });
    return true;
  }

  // With one cell there is no routing and the check below is a comparison with undefined.
  const isForeignPacket = ctx.cellRouting?.isForeignPacket;
  return (req, res, next) => {
    const onward = () => toApp(req, res, next);
    if (req.method !== 'POST') return onward();
    const match = GATED_PATH.exec(req.url ?? '');
    const packetId = match?.[1];
    const action = match?.[2] as GatedActionName | undefined;
    const authorization = req.headers.authorization;
    if (
      !packetId ||
      !action ||
      authorization === undefined ||
      req.headers['idempotency-key'] !== undefined ||
      !hasNoBody(req) ||
      // Another cell's packet goes through the app, whose first middleware forwards it (api/cells/router.ts).
      (isForeignPacket !== undefined && isForeignPacket(packetId))
    ) {
      return onward();
    }
    const locals = Object.create(null) as Record<string, unknown>;
    const call = new GatedCall(
      action,
      packetId,
      authorization,
      ipOf(req) ?? 'unknown',
      undefined,
      res,
      locals,
    );
    answer(req, res, call).then(
      (answered) => {
        if (!answered) onward();
      },
      (err: unknown) => {
        (req as { [LANE_ERROR]?: unknown })[LANE_ERROR] = err;
        try {
          onward();
        } catch (failed) {
          // Express answers whatever it is handed; should even that throw, closing the connection is left.
          ctx.log.error(
            { err: failed, req: { method: req.method, url: req.url } },
            'hot lane: the app failed a request',
          );
          res.destroy();
        }
      },
    );
  };
}

/**
 * Puts the hot lane in front of `app` (unless every request gets a line: LOG_LEVEL debug or below, where
 * pino-http's line names the matched route) and, first in the app's chain, the
 * middleware that passes an error the lane met on to the app's error handler.
 */
export function mountHotLane(app: Express, ctx: AppContext): void {
  if (requestLinesLogged(ctx.log)) return;
  const appWithHandle = app as unknown as { handle: Handle };
  const toApp = appWithHandle.handle.bind(app);
  appWithHandle.handle = hotLane(ctx, expressIpOf(app), toApp);
}

/** The app's first middleware after logging and metrics: an error the lane met goes to the error handler. */
export function laneErrors(): (
  req: IncomingMessage,
  res: ServerResponse,
  next: (err?: unknown) => void,
) => void {
  return (req, _res, next) => next((req as { [LANE_ERROR]?: unknown })[LANE_ERROR]);
}
