/**
 * A handler's answer (`Reply`) as bytes on the wire (`StoredResponse`), which the idempotency store can keep
 * and replay, and the one way either is written to `res`.
 */
import type { ServerResponse } from 'node:http';
import type { Response } from 'express';
import { toProblem } from './errorMapping';
import type { StoredResponse } from './idempotency';
import { Problem, PROBLEM_CONTENT_TYPE } from './problems';

export type Reply =
  | { status?: number; headers?: Record<string, string>; body: unknown }
  | { status?: number; headers?: Record<string, string>; raw: string | Buffer; contentType: string };

const JSON_TYPE = 'application/json; charset=utf-8';

export function outgoing(reply: Reply, defaultStatus: number): StoredResponse {
  const status = reply.status ?? defaultStatus;
  if ('raw' in reply) {
    const body = typeof reply.raw === 'string' ? Buffer.from(reply.raw, 'utf8') : reply.raw;
    return { status, headers: { ...reply.headers, 'content-type': reply.contentType }, body };
  }
  return {
    status,
    headers: { ...reply.headers, 'content-type': JSON_TYPE },
    body: Buffer.from(JSON.stringify(reply.body)),
  };
}

export function problemOutgoing(problem: Problem, instance: string): StoredResponse {
  return {
    status: problem.status,
    headers: { ...problem.headers, 'content-type': `${PROBLEM_CONTENT_TYPE}; charset=utf-8` },
    body: Buffer.from(JSON.stringify(problem.body(instance))),
  };
}

/** Writes an answer; `res` is Express's, or Node's own for the hot lane, which answers POSTs only. */
export function send(res: Response | ServerResponse, response: StoredResponse): void {
  // GETs go through res.send for their ETag and 304; hashing every POST answer for an ETag is wasted work.
  if (res.req.method === 'GET' || res.req.method === 'HEAD') {
    (res as Response).status(response.status).set(response.headers).send(response.body);
    return;
  }
  res.statusCode = response.status;
  for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value);
  res.setHeader('Content-Length', response.body.length);
  res.end(response.body);
}

/**
 * Answers a refusal (a 4xx problem) itself and returns true; returns false for anything else (5xx, the
 * unexpected, or an answer already begun), which the caller passes on to the error handler, which logs it.
 */
export function sendRefusal(res: Response | ServerResponse, err: unknown, instance: string): boolean {
  const problem = toProblem(err);
  if (!problem || problem.status >= 500 || res.headersSent) return false;
  send(res, problemOutgoing(problem, instance));
  return true;
}
