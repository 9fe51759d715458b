/**
 * Request logs (pino, JSON). Production (the default level, info, as docker-compose.yml and `npm start` run)
 * prints no line per request: only a request answered with a 5xx (at error) or in at least
 * LOG_SLOW_REQUEST_MS (at warn), besides the service's own warnings and errors. A storm is thousands of
 * grabs a second, and printing a line for each (the hot lane standing aside to do it) tripled the API's CPU
 * per grab (docs/hot-path.md); the request duration histogram counts every request instead. At debug and below pino-http prints one
 * line per request with the request id, method, path, status, time and the ids a route annotated (userId
 * from the token, packetId, claimId). Headers are never logged, so a bearer token cannot reach a log line;
 * the request id comes from X-Request-Id when the caller sent a sane one (so a trace crosses the load
 * balancer) and is echoed back either way, so a client's report finds the 5xx or slow line it is on.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import { pinoHttp } from 'pino-http';
import type { Logger } from '../config/logger';
import { statusClass, type Metrics } from './metrics';

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
/** res.locals fields copied into the request's log line. */
const LOGGED_LOCALS = ['userId', 'packetId', 'claimId', 'transferId'] as const;

/** The request's id: a sane incoming X-Request-Id, else a new one; echoed back as X-Request-Id. */
export function requestIdOf(req: IncomingMessage, res: ServerResponse): string {
  const incoming = req.headers['x-request-id'];
  const id = typeof incoming === 'string' && REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID();
  res.setHeader('X-Request-Id', id);
  return id;
}

/** The LOGGED_LOCALS a route annotated on res.locals. */
function localsOf(locals: Record<string, unknown> | undefined): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  if (!locals) return fields;
  for (const name of LOGGED_LOCALS) if (locals[name] !== undefined) fields[name] = locals[name];
  return fields;
}

/** True where every request gets its own line (debug and below); the hot lane stands aside there. */
export function requestLinesLogged(log: Logger): boolean {
  return log.isLevelEnabled('debug');
}

/** What a 5xx or slow request's line says: enough to find it from the client's X-Request-Id. */
export interface FinishedRequest {
  id: string;
  method: string | undefined;
  url: string | undefined;
  statusCode: number;
  durationMs: number;
  locals: Record<string, unknown>;
}

/**
 * The production rule for one finished request: a 5xx at error, an answer that took at least `slowMs` at
 * warn, anything else nothing. The hot lane calls it for what it answers; quietRequestLogging for the rest.
 */
/** Whether production logs a finished request: a 5xx, or an answer that took at least `slowMs`. */
export const isLoggedFinish = (statusCode: number, durationMs: number, slowMs: number): boolean =>
  statusCode >= 500 || durationMs >= slowMs;

export function logFinishedRequest(log: Logger, slowMs: number, finished: FinishedRequest): void {
  if (!isLoggedFinish(finished.statusCode, finished.durationMs, slowMs)) return;
  const serverError = finished.statusCode >= 500;
  const line = {
    req: { id: finished.id, method: finished.method, url: finished.url },
    res: { statusCode: finished.statusCode },
    responseTimeMs: Math.round(finished.durationMs),
    ...localsOf(finished.locals),
  };
  if (serverError) log.error(line, 'request errored');
  else log.warn(line, 'slow request');
}

/**
 * At debug and below every request gets a pino-http child logger and a line (at debug; a 5xx at error).
 * Above (production) a request costs its id, its start time and one check when it finishes
 * (logFinishedRequest), so nothing is built for lines nobody prints.
 */
export function requestLogging(log: Logger, slowMs: number): RequestHandler {
  if (!requestLinesLogged(log)) return quietRequestLogging(log, slowMs);
  return pinoHttp({
    logger: log,
    genReqId: requestIdOf,
    customProps: (_req, res) => localsOf((res as { locals?: Record<string, unknown> }).locals),
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : 'debug'),
    serializers: {
      req: (req: { id: unknown; method: string; url: string; raw?: { route?: { path?: string } } }) => ({
        id: req.id,
        method: req.method,
        // The path and query only: cursors are opaque but harmless, tokens never travel in URLs.
        url: req.url,
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  }) as RequestHandler;
}

function quietRequestLogging(log: Logger, slowMs: number): RequestHandler {
  return (req, res, next) => {
    const startedAtNs = process.hrtime.bigint();
    const id = requestIdOf(req, res);
    (req as { id?: string }).id = id;
    res.once('finish', () => {
      logFinishedRequest(log, slowMs, {
        id,
        method: req.method,
        url: req.originalUrl,
        statusCode: res.statusCode,
        durationMs: Number(process.hrtime.bigint() - startedAtNs) / 1e6,
        locals: res.locals,
      });
    });
    next();
  };
}

/** Observes every request's duration by route template (`unmatched` for 404s) and status class. */
export function requestMetrics(metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const stop = metrics.httpRequestDuration.startTimer();
    res.on('finish', () => {
      // A request the hot lane handed over with an error matched no router route; the lane named it.
      const route =
        (req.route as { path?: string } | undefined)?.path ??
        (res.locals['route'] as string | undefined) ??
        'unmatched';
      stop({ method: req.method, route, status_class: statusClass(res.statusCode) });
    });
    next();
  };
}
