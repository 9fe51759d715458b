/**
 * The hot lane. In a storm almost every request is a grab (or an open) in one shape: POST, a bearer token,
 * no body, no query, no Idempotency-Key. Walking the whole app for each one (the percent-escape check, the
 * JSON parser, every router's layers, zod parsing of params, query and body, the pipeline's per-request
 * objects) cost as much CPU as the grab itself. This middleware, mounted right after request logging and
 * metrics, answers exactly that shape with the same steps pipeline.ts takes for it, in the same order:
 *
 *   1. bearer authentication (the same cached verifier),
 *   2. the packet id's shape (the same pattern as PacketIdSchema),
 *   3. the IP, user and packet limits, handed to the gate script (grab and open are `limitsInGate`),
 *   4. the action (routes/gated.ts, which the routes call too), and the same reply and problem bodies.
 *
 * Anything else goes on to the app unchanged and is answered there: another shape, a token that does not
 * verify (the pipeline charges the IP limit and answers 401), a malformed id, and every request when request
 * lines are logged (LOG_LEVEL info or below, where pino-http describes the matched route). Unexpected errors
 * go to the app's error handler, which logs them as any 5xx. test/integration/hotLane.test.ts checks that
 * both ways answer alike.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { bearerTokenOf } from './auth';
import type { AppContext } from './context';
import type { LimitCheck } from './rateLimits';
import { outgoing, send, sendRefusal } from './reply';
import { GATED_ROUTES, type GatedAction, type GatedActionName } from './routes/gated';
import { RESOURCE_ID_PATTERN } from './validation';

/** GATED_ROUTES' paths with a concrete id and no query string. */
const GATED_PATH = /^\/v1\/packets\/([^/?]+)\/(grab|open)$/;

function hasNoBody(req: Request): boolean {
  const length = req.headers['content-length'];
  return (length === undefined || length === '0') && req.headers['transfer-encoding'] === undefined;
}

export function hotLane(ctx: AppContext, actions: Record<GatedActionName, GatedAction>): RequestHandler {
  if (ctx.log.isLevelEnabled('info')) return (_req, _res, next) => next();
  const taken = ctx.metrics.hotLane;

  async function answer(
    req: Request,
    res: Response,
    next: NextFunction,
    token: string,
    packetId: string,
    action: GatedActionName,
  ): Promise<void> {
    let userId: string;
    try {
      const user = await ctx.verifyToken(token);
      userId = user.id;
      req.user = user;
    } catch {
      next();
      return;
    }
    res.locals['userId'] = userId;
    res.locals['route'] = GATED_ROUTES[action];
    taken.inc({ route: GATED_ROUTES[action] });
    const limits: LimitCheck[] = [
      { scope: 'ip', key: req.ip ?? 'unknown' },
      { scope: 'user', key: userId },
      { scope: 'packet', key: packetId },
    ];
    try {
      const reply = await actions[action]({
        packetId,
        userId,
        limits,
        annotate: (fields) => Object.assign(res.locals, fields),
      });
      send(res, outgoing(reply, 200));
    } catch (err) {
      if (!sendRefusal(res, err, req.originalUrl)) next(err);
    }
  }

  return (req, res, next) => {
    if (req.method !== 'POST') return next();
    const match = GATED_PATH.exec(req.url);
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
      next();
      return;
    }
    answer(req, res, next, token, packetId, action).catch(next);
  };
}
