/**
 * The hot lane. In a storm almost every request is a grab (or an open) in one shape: POST, a bearer token,
 * no body, no query, no Idempotency-Key. Walking the whole app for each one (Express's prototype swaps and
 * router, the logging and metrics middleware's listeners, the percent-escape check, the JSON parser, zod
 * parsing of params, query and body, the pipeline's per-request objects) cost more CPU than the grab itself.
 * The lane sits in front of Express (`mountHotLane` wraps `app.handle`) and answers exactly that shape on
 * Node's own request and response, with the steps the app takes for it, in the same order:
 *
 *   1. bearer authentication (the same cached verifier),
 *   2. the request id (logging.ts's rule) and, once answered, the request's duration metric and, for a slow
 *      answer, logging.ts's line (a 5xx is the app's, below),
 *   3. the packet id's shape (the same pattern as PacketIdSchema),
 *   4. the IP (Express's own `req.ip`, so `trust proxy` applies), user and packet limits, handed to the gate
 *      script (grab and open are `limitsInGate`),
 *   5. the action (routes/gated.ts, which the routes call too), and the same reply and problem bodies.
 *
 * Anything else goes to Express untouched and is answered there: another shape, a token that does not verify
 * (the pipeline charges the IP limit and answers 401), a malformed id, and every request when every request
 * gets a line (LOG_LEVEL debug or below, where pino-http describes the matched route). Production (info, the
 * default) prints no request lines, so the lane serves it (logging.ts). An unexpected error is
 * handed to Express too, which passes it to its error handler, so it is logged and counted as any 5xx.
 * test/integration/hotLane.test.ts checks that both ways answer alike.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type Express } from 'express';
import { bearerTokenOf, type AuthUser } from './auth';
import type { AppContext } from './context';
import { logFinishedRequest, requestIdOf, requestLinesLogged } from './logging';
import { statusClass } from './metrics';
import type { LimitCheck } from './rateLimits';
import { outgoing, send, sendRefusal } from './reply';
import { GATED_ROUTES, type GatedAction, type GatedActionName } from './routes/gated';
import { RESOURCE_ID_PATTERN } from './validation';

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
function hotLane(
  ctx: AppContext,
  actions: Record<GatedActionName, GatedAction>,
  ipOf: (req: IncomingMessage) => string | undefined,
  toApp: Handle,
): Handle {
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

  async function answer(
    req: IncomingMessage,
    res: LaneResponse,
    user: AuthUser,
    packetId: string,
    action: GatedActionName,
  ): Promise<void> {
    const startedAtNs = process.hrtime.bigint();
    const route = GATED_ROUTES[action];
    // What the logging middleware would have given this request: its id, echoed as X-Request-Id. res.locals
    // carries the ids a 5xx line names and the route its duration is labelled with, should Express answer.
    const requestId = requestIdOf(req, res);
    const locals: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    locals['userId'] = user.id;
    locals['route'] = route;
    res.locals = locals;
    taken[action].inc();
    const limits: LimitCheck[] = [
      { scope: 'ip', key: ipOf(req) ?? 'unknown' },
      { scope: 'user', key: user.id },
      { scope: 'packet', key: packetId },
    ];
    try {
      const reply = await actions[action]({
        packetId,
        userId: user.id,
        limits,
        annotate: (fields) => Object.assign(locals, fields),
      });
      send(res, outgoing(reply, 200));
    } catch (err) {
      // A 4xx is answered here; anything else goes to the app's error handler (the caller hands it over).
      if (!sendRefusal(res, err, req.url ?? '')) throw err;
    }
    // Measured to the last write, where the app's middleware measured to 'finish': one listener fewer.
    const durationMs = Number(process.hrtime.bigint() - startedAtNs) / 1e6;
    durationOf(route, res.statusCode).observe(durationMs / 1e3);
    logFinishedRequest(ctx.log, ctx.config.logSlowRequestMs, {
      id: requestId,
      method: req.method,
      url: req.url,
      statusCode: res.statusCode,
      durationMs,
      locals,
    });
  }

  return (req, res, next) => {
    const onward = () => toApp(req, res, next);
    if (req.method !== 'POST') return onward();
    const match = GATED_PATH.exec(req.url ?? '');
    const packetId = match?.[1];
    const action = match?.[2] as GatedActionName | undefined;
    const token = bearerTokenOf(req.headers.authorization);
    if (
      !packetId ||
      !action ||
      !token ||
      !RESOURCE_ID_PATTERN.test(packetId) ||
      req.headers['idempotency-key'] !== undefined ||
      !hasNoBody(req)
    ) {
      return onward();
    }
    const take = (user: AuthUser) =>
      answer(req, res, user, packetId, action).catch((err: unknown) => {
        (req as { [LANE_ERROR]?: unknown })[LANE_ERROR] = err;
        onward();
      });
    let verified: AuthUser | Promise<AuthUser>;
    try {
      verified = ctx.verifyToken(token);
    } catch {
      return onward();
    }
    // Our own tokens verify without a promise (auth.ts); others, and every failure, settle later.
    const done = verified instanceof Promise ? verified.then(take, onward) : take(verified);
    // Express answers whatever it is handed; should even that throw, closing the connection is what is left.
    done.catch((err: unknown) => {
      ctx.log.error({ err, req: { method: req.method, url: req.url } }, 'hot lane: the app failed a request');
      res.destroy();
    });
  };
}

/**
 * Puts the hot lane in front of `app` (unless every request gets a line: LOG_LEVEL debug or below, where
 * pino-http's line names the matched route) and, first in the app's chain, the
 * middleware that passes an error the lane met on to the app's error handler.
 */
export function mountHotLane(
  app: Express,
  ctx: AppContext,
  actions: Record<GatedActionName, GatedAction>,
): void {
  if (requestLinesLogged(ctx.log)) return;
  const appWithHandle = app as unknown as { handle: Handle };
  const toApp = appWithHandle.handle.bind(app);
  appWithHandle.handle = hotLane(ctx, actions, expressIpOf(app), toApp);
}

/** The app's first middleware after logging and metrics: an error the lane met goes to the error handler. */
export function laneErrors(): (
  req: IncomingMessage,
  res: ServerResponse,
  next: (err?: unknown) => void,
) => void {
  return (req, _res, next) => next((req as { [LANE_ERROR]?: unknown })[LANE_ERROR]);
}
