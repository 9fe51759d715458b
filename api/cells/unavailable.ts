/**
 * The one answer for "the cell that owns this request cannot serve it now": 503 `region_unavailable` with
 * Retry-After (docs/cells.md "Outage behaviour"). A client meets it when another cell is down or cut off,
 * when a forwarded request reaches a cell that does not own it, and, with more than one cell, when this
 * cell's own Postgres, Redis or Temporal fails a request. It is never a business answer: nothing about the
 * packet or the wallet is known from it, and a POST retried with the same Idempotency-Key is safe.
 */
import { Problem } from '../problems';

export const REGION_UNAVAILABLE = 'region_unavailable';
/** How long a client should wait before retrying: a cut or a failover is measured in seconds. */
export const REGION_RETRY_AFTER_SECONDS = 2;

export function regionUnavailable(cell: string, detail: string, cause?: unknown): Problem {
  return new Problem(503, REGION_UNAVAILABLE, 'Region unavailable', detail, { cell }, { cause }).withHeader(
    'Retry-After',
    String(REGION_RETRY_AFTER_SECONDS),
  );
}

/** Socket-level failures of any client: the peer is down, unreachable or went away. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

/**
 * Postgres: connection exceptions (class 08), shutting down or starting (57P01-57P03), and a write refused
 * by a read-only server (25006): during a Patroni failover or switchover a session may still reach the
 * member that is being demoted, and the refusal says only that the primary is moving, not that the request
 * is wrong (docs/failover.md).
 */
const PG_DOWN_CODE = /^(08...|57P0[1-3]|25006)$/;

/** Messages of pg, pg-pool and ioredis when their server is gone; they carry no code of their own. */
const DOWN_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Connection is closed',
  "Stream isn't writeable",
  'Reached the max retries per request limit',
  // pg, for a client whose connection already broke (a pool connection cut by HAProxy after a failover).
  'is not queryable',
];

/** gRPC UNAVAILABLE and DEADLINE_EXCEEDED, as Temporal's client reports an unreachable server. */
const GRPC_DOWN_CODES = new Set([14, 4]);

/** True when an error says a dependency of this cell (Postgres, Redis, Temporal) is down, not the request. */
export function isDependencyDown(err: unknown, depth = 0): boolean {
  if (typeof err !== 'object' || err === null || depth > 4) return false;
  const { code, message, cause } = err as { code?: unknown; message?: unknown; cause?: unknown };
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || PG_DOWN_CODE.test(code))) return true;
  if (typeof code === 'number' && GRPC_DOWN_CODES.has(code) && 'metadata' in err) return true;
  if (typeof message === 'string' && DOWN_MESSAGES.some((text) => message.includes(text))) return true;
  return isDependencyDown(cause, depth + 1);
}

export const SERVICE_UNAVAILABLE = 'service_unavailable';

/**
 * The error mapper for a request that failed because this cell's own dependency is down. Among several
 * cells it answers 503 region_unavailable, as a request routed to a cell that is down does. With one cell
 * it answers 503 service_unavailable with the same Retry-After: the gap of a Postgres failover (a few
 * seconds, docs/failover.md) is something a client should wait out and retry, not a server bug (a 500).
 */
export function dependencyDownProblem(
  self: string,
  severalCells = true,
): (err: unknown) => Problem | undefined {
  return (err) => {
    if (!isDependencyDown(err)) return undefined;
    if (severalCells)
      return regionUnavailable(self, `Cell ${self} cannot reach its own database, Redis or Temporal.`, err);
    return new Problem(
      503,
      SERVICE_UNAVAILABLE,
      'Service unavailable',
      'The service cannot reach its database, Redis or Temporal; retry after a moment.',
      {},
      { cause: err },
    ).withHeader('Retry-After', String(REGION_RETRY_AFTER_SECONDS));
  };
}
