/**
 * Request logs (pino-http, JSON): one line per request with the request id, method, route, status, time and
 * the ids a route annotated (userId from the token, packetId, claimId). Headers are not logged at all, so a
 * bearer token can never reach a log line; the request id comes from X-Request-Id when the caller sent a
 * sane one (so a trace crosses the load balancer) and is echoed back either way.
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

function localsOf(res: ServerResponse): Record<string, unknown> {
  const locals = (res as ServerResponse & { locals?: Record<string, unknown> }).locals ?? {};
  const fields: Record<string, unknown> = {};
  for (const name of LOGGED_LOCALS) if (locals[name] !== undefined) fields[name] = locals[name];
  return fields;
}

/**
 * At levels that print request lines (info and below) every request gets a pino-http child logger. Above
 * them (production runs at warn) a request costs its id and one check when it finishes: only 5xx answers
 * are logged, with the request id, so nothing is built for the lines nobody prints.
 */
export function requestLogging(log: Logger): RequestHandler {
  if (!log.isLevelEnabled('info')) return quietRequestLogging(log);
  return pinoHttp({
    logger: log,
    genReqId: requestIdOf,
    customProps: (_req, res) => localsOf(res),
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : 'info'),
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

function quietRequestLogging(log: Logger): RequestHandler {
  return (req, res, next) => {
    const id = requestIdOf(req, res);
    (req as { id?: string }).id = id;
    res.once('finish', () => {
      if (res.statusCode < 500) return;
      log.error(
        {
          req: { id, method: req.method, url: req.originalUrl },
          res: { statusCode: res.statusCode },
          ...localsOf(res),
        },
        'request errored',
      );
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
