/**
 * A server span per HTTP request, made only when tracing is on (tracing/index.ts). It wraps the app's
 * outermost entry, `app.handle`, after the hot lane has wrapped it (api/app.ts), so the storm's grabs and
 * opens get their span as much as a send does, and the span is current for everything the request awaits:
 * the Temporal client's UpdateWithStartWorkflow span of a send becomes its child, and the workflow's spans
 * that child's. Named `<method> <route template>` (`POST /v1/packets`), with the OpenTelemetry semantic
 * conventions' attributes; a 5xx marks it an error, a 4xx does not (a refusal is an answer, not a fault).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from '@opentelemetry/api';
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_URL_PATH,
} from '@opentelemetry/semantic-conventions';
import type { Express } from 'express';

type Handle = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;

/** Marks a traced app, so a test can tell that tracing is (or is not) installed. */
export const TRACED_HANDLE = Symbol.for('redpacket.tracedHandle');

/**
 * The route template the request matched: Express's (`req.route`), else what the hot lane or the metrics
 * middleware noted on `res.locals.route`, else `unmatched` (a 404), as the request-duration metric names it.
 */
function routeOf(req: IncomingMessage, res: ServerResponse): string {
  const expressRoute = (req as { route?: { path?: unknown } }).route?.path;
  if (typeof expressRoute === 'string') return expressRoute;
  const noted = (res as { locals?: Record<string, unknown> }).locals?.['route'];
  return typeof noted === 'string' ? noted : 'unmatched';
}

export function traceRequests(app: Express, tracer: Tracer): void {
  const appWithHandle = app as unknown as { handle: Handle };
  const handle = appWithHandle.handle.bind(app);
  const traced: Handle = (req, res, next) => {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    // A caller's (or a load balancer's) traceparent makes this request part of its trace.
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const span = tracer.startSpan(
      method,
      {
        kind: SpanKind.SERVER,
        attributes: {
          [ATTR_HTTP_REQUEST_METHOD]: method,
          [ATTR_URL_PATH]: query < 0 ? url : url.slice(0, query),
        },
      },
      parent,
    );
    const active = trace.setSpan(parent, span);
    res.once('close', () => {
      const route = routeOf(req, res);
      span.updateName(`${method} ${route}`);
      span.setAttribute(ATTR_HTTP_ROUTE, route);
      span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      // A connection closed before the answer was written is not an answer with that status.
      if (!res.writableFinished) span.setStatus({ code: SpanStatusCode.ERROR, message: 'closed early' });
      span.end();
    });
    // The body parser resumes the request from the socket's events, outside this call; bound emitters run
    // their listeners in the request's context, so the span stays current after the body is read.
    context.bind(active, req);
    context.bind(active, res);
    context.with(active, () => handle(req, res, next));
  };
  // On the app, not the handle: load shedding wraps the handle again, outside this one (api/app.ts).
  Object.defineProperty(app, TRACED_HANDLE, { value: true });
  appWithHandle.handle = traced;
}
