/**
 * Forwarding a request to the cell that owns it (docs/cells.md "Routing"). The request goes to the owner's
 * entry URL (config.cells.urls: its HAProxy, or an API process) over a keep-alive connection pool, marked
 * with two headers: the cell it comes from and the shared internal token. A cell that receives a request so
 * marked answers it or refuses it, and never forwards it again, so a wrong map cannot make a loop.
 *
 * The owner's answer is copied back as it is (status, headers, body), with one exception: a connection that
 * fails, no answer within forwardTimeoutMs, or a 502 or 504, or a 503 that is not one of our problems (a
 * router with no API process up), becomes 503 `region_unavailable` with Retry-After. The owner's own 503s
 * (payment_pending, packet_busy, region_unavailable) are problems and pass through unchanged: they carry
 * their meaning and their Retry-After. A POST that times out may have been applied at the owner; a retry
 * with the same Idempotency-Key gets its stored answer there.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { CellSettings } from '../../config';
import { PROBLEM_CONTENT_TYPE, type Problem } from '../problems';
import { regionUnavailable } from './unavailable';

/** The cell a forwarded request comes from. */
export const CELL_ORIGIN_HEADER = 'x-rp-cell-origin';
/** The shared internal token (CELL_INTERNAL_TOKEN): proves the request comes from a cell. */
export const CELL_TOKEN_HEADER = 'x-rp-cell-token';

/** Connections kept open to each other cell: enough for a storm's forwarded share, bounded all the same. */
const SOCKETS_PER_CELL_MAX = 256;
/**
 * A cell whose entry does not take a connection in this long is down. The wait for the answer itself is
 * longer (forwardTimeoutMs): a send legitimately waits up to its payment deadline (packets/send.ts).
 */
export const CELL_CONNECT_TIMEOUT_MS = 2_000;

/** Failures of a reused kept-alive connection, which one more attempt may tell from a cell that is down. */
const STALE = new WeakSet<object>();

/** Headers that describe one connection, not the request, and the internal ones this process sets itself. */
const NOT_COPIED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'host',
  'content-length',
  CELL_ORIGIN_HEADER,
  CELL_TOKEN_HEADER,
]);

export interface CellRequest {
  method: string;
  /** Path and query, e.g. `/v1/me/balance`. */
  path: string;
  headers: IncomingHttpHeaders;
  body?: Buffer | undefined;
}

export interface CellAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  /** The answer's body, not yet read: pipe it on, or read it with `readBody`. */
  stream: IncomingMessage;
}

export interface CellForwarder {
  /** Sends a request to `cell`; rejects with a region_unavailable problem when the cell cannot answer. */
  call(cell: string, request: CellRequest): Promise<CellAnswer>;
  close(): void;
}

function copyHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const copied: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !NOT_COPIED.has(name)) copied[name] = value;
  }
  return copied;
}

/** True for an answer that means the cell's entry is up but nothing behind it can serve. */
function isRouterFailure(status: number, headers: IncomingHttpHeaders): boolean {
  if (status === 502 || status === 504) return true;
  return status === 503 && !(headers['content-type'] ?? '').startsWith(PROBLEM_CONTENT_TYPE);
}

export function createCellForwarder(cells: CellSettings): CellForwarder {
  const agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets: SOCKETS_PER_CELL_MAX }),
    'https:': new https.Agent({ keepAlive: true, maxSockets: SOCKETS_PER_CELL_MAX }),
  };
  const bases = new Map(Object.entries(cells.urls).map(([cell, url]) => [cell, new URL(url)]));

  function attempt(cell: string, base: URL, request: CellRequest): Promise<CellAnswer> {
    const unavailable = (detail: string, cause?: unknown): Problem =>
      regionUnavailable(cell, `Cell ${cell} ${detail}; try again shortly.`, cause);
    const headers = copyHeaders(request.headers);
    headers[CELL_ORIGIN_HEADER] = cells.self;
    headers[CELL_TOKEN_HEADER] = cells.internalToken ?? '';
    if (request.body) headers['content-length'] = request.body.length;
    const client = base.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const outgoing = client.request({
        protocol: base.protocol,
        hostname: base.hostname,
        port: base.port,
        method: request.method,
        path: `${base.pathname === '/' ? '' : base.pathname}${request.path}`,
        headers,
        agent: agents[base.protocol as 'http:' | 'https:'],
      });
      // The whole wait for the answer's head is bounded; the body of an answer that began streams on.
      const timer = setTimeout(() => {
        outgoing.destroy(unavailable(`did not answer within ${cells.forwardTimeoutMs} ms`));
      }, cells.forwardTimeoutMs);
      let connectTimer: NodeJS.Timeout | undefined;
      outgoing.once('socket', (socket) => {
        if (!socket.connecting) return;
        connectTimer = setTimeout(
          () => {
            outgoing.destroy(unavailable(`did not take a connection within ${CELL_CONNECT_TIMEOUT_MS} ms`));
          },
          Math.min(CELL_CONNECT_TIMEOUT_MS, cells.forwardTimeoutMs),
        );
        socket.once('connect', () => clearTimeout(connectTimer));
      });
      outgoing.on('error', (err) => {
        clearTimeout(timer);
        clearTimeout(connectTimer);
        if (err instanceof Error && 'status' in err) return reject(err);
        // A kept-alive connection that the other side had just closed fails at once on reuse, before the
        // request was read: such a failure may be tried once more on a fresh connection.
        const code = (err as { code?: unknown }).code;
        const problem = unavailable('is unreachable', err);
        if (outgoing.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE')) STALE.add(problem);
        reject(problem);
      });
      outgoing.on('response', (answer) => {
        clearTimeout(timer);
        clearTimeout(connectTimer);
        const status = answer.statusCode ?? 502;
        if (isRouterFailure(status, answer.headers)) {
          answer.resume();
          reject(unavailable(`answered ${status}`));
          return;
        }
        resolve({ status, headers: answer.headers, stream: answer });
      });
      outgoing.end(request.body);
    });
  }

  return {
    async call(cell, request) {
      const base = bases.get(cell);
      if (!base) throw regionUnavailable(cell, `No entry URL is configured for cell ${cell}.`);
      try {
        return await attempt(cell, base, request);
      } catch (err) {
        if (!STALE.has(err as object)) throw err;
        return attempt(cell, base, request);
      }
    },
    close() {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  };
}

/** Reads a forwarded answer's body, bounded: the other cell's lists and problems are small. */
export async function readBody(answer: CellAnswer, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of answer.stream) {
    length += (chunk as Buffer).length;
    if (length > maxBytes) {
      answer.stream.destroy();
      throw new Error(`answer over ${maxBytes} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Response headers of the other cell's answer that may be copied to this cell's client. */
export function answerHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const copied = copyHeaders(headers);
  if (headers['content-length'] !== undefined) copied['content-length'] = headers['content-length'];
  return copied;
}
