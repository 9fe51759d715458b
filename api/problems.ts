/**
 * RFC 9457 problem details. Every error the API returns is one of these, with a stable `code` clients can
 * switch on; the human `title` and `detail` may change, the code may not.
 */
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import type { Logger } from '../config/logger';

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  code: string;
  detail?: string;
  instance?: string;
  [extension: string]: unknown;
}

export class Problem extends Error {
  override readonly name = 'Problem';
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    readonly detail?: string,
    readonly extensions: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    // A problem is an answer, not a fault: its stack is never shown or logged (an unexpected error is logged
    // as itself before it becomes a 500), and refusals come by the thousand in a storm.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(detail ?? title, options);
    Error.stackTraceLimit = stackTraceLimit;
  }

  /** Response headers that belong to the problem, e.g. Retry-After on 429 and 503. */
  readonly headers: Record<string, string> = {};

  withHeader(name: string, value: string): this {
    this.headers[name] = value;
    return this;
  }

  body(instance?: string): ProblemBody {
    return {
      type: `https://redpacket.dev/problems/${this.code}`,
      title: this.title,
      status: this.status,
      code: this.code,
      ...(this.detail ? { detail: this.detail } : {}),
      ...(instance ? { instance } : {}),
      ...this.extensions,
    };
  }
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export function sendProblem(res: Response, problem: Problem, instance?: string): void {
  res
    .status(problem.status)
    .set(problem.headers)
    .type(PROBLEM_CONTENT_TYPE)
    .send(JSON.stringify(problem.body(instance)));
}

export function internalProblem(): Problem {
  return new Problem(500, 'internal', 'Internal error', 'Something went wrong; it has been logged.');
}

export function invalidPathProblem(cause?: unknown): Problem {
  return new Problem(
    400,
    'invalid_path',
    'Invalid path',
    'The path has a broken percent-escape; encode it with encodeURIComponent.',
    {},
    { cause },
  );
}

/**
 * Refuses a path with a broken percent-escape (`/v1/packets/%ZZ`, an overlong UTF-8 sequence) before any
 * work: no body parsing, rate limit, token check or route runs for it. Express 5 would otherwise throw the
 * URIError of decodeURIComponent while matching a route parameter, which reached the error middleware as an
 * unknown error: a 500 logged at error level, on a request anyone can send without a token.
 */
export const malformedPathHandler: RequestHandler = (req, _res, next) => {
  try {
    decodeURIComponent(req.path);
  } catch (err) {
    return next(invalidPathProblem(err));
  }
  next();
};

export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new Problem(404, 'not_found', 'Not found', `No route for ${req.method} ${req.path}`));
};

/** Maps a thrown error to a problem; anything unrecognised is a 500 that never leaks its message or stack. */
export type ErrorMapper = (err: unknown) => Problem | undefined;

export function errorHandler(log: Logger, mappers: ErrorMapper[] = []): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) return next(err);
    let problem: Problem | undefined = err instanceof Problem ? err : undefined;
    for (const mapper of mappers) problem ??= mapper(err);
    problem ??= bodyParserProblem(err);
    if (!problem) {
      // req.log (pino-http) carries the request id, so the 500 a client reports can be found.
      // Without pino-http's child logger (quiet levels) the request id is added here.
      const requestLog = (req as { log?: Logger }).log ?? log;
      requestLog.error(
        { err, reqId: (req as { id?: unknown }).id, method: req.method, path: req.path },
        'unhandled error',
      );
      problem = internalProblem();
    }
    sendProblem(res, problem, req.originalUrl);
  };
}

/** express.json() reports bad JSON and oversized bodies as errors with a `type`; they are the client's fault. */
function bodyParserProblem(err: unknown): Problem | undefined {
  if (typeof err !== 'object' || err === null || !('type' in err)) return undefined;
  switch (err.type) {
    case 'entity.parse.failed':
      return new Problem(400, 'malformed_json', 'Malformed JSON', 'The request body is not valid JSON.');
    case 'request.size.invalid':
    case 'request.aborted':
      return new Problem(400, 'malformed_body', 'Malformed request body');
    case 'entity.too.large':
      return new Problem(413, 'body_too_large', 'Request body too large');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new Problem(415, 'unsupported_encoding', 'Unsupported body encoding');
    default:
      return undefined;
  }
}
