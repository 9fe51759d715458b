/**
 * Typed errors to problems, in one place. The error middleware and the idempotency layer (which must store a
 * failed first answer exactly as it was sent) both go through `toProblem`, so a replay of a 402 is the 402.
 */
import { ZodError } from 'zod';
import { DomainError, ErrorCode } from '../domain/errors';
import { invalidPathProblem, Problem } from './problems';

interface ProblemShape {
  status: number;
  title: string;
  /** Overrides the problem code; used where a code would reveal more than the caller may know. */
  code?: string;
  /** Fixed text instead of the domain message, for answers that must be indistinguishable. */
  detail?: string;
  /** Sent as Retry-After, for refusals that pass on their own. */
  retryAfterSeconds?: number;
}

const NOT_FOUND_DETAIL = 'No packet with this id exists, or it is not offered to you.';

/**
 * HTTP shape of every domain error code. Business rule failures that depend only on the input are 422;
 * failures that depend on current state (someone else got the last share, a hold lapsed) are 409, which a
 * client may meet again with the same input later; an expired packet is 410 because it never comes back.
 */
const DOMAIN_PROBLEMS: Record<ErrorCode, ProblemShape> = {
  [ErrorCode.InvalidAmount]: { status: 422, title: 'Invalid amount' },
  [ErrorCode.InvalidAccount]: { status: 422, title: 'Invalid account' },
  [ErrorCode.UnknownAccount]: { status: 404, title: 'Unknown account' },
  [ErrorCode.SelfTransfer]: { status: 422, title: 'Transfer to the same account' },
  [ErrorCode.InsufficientFunds]: { status: 402, title: 'Insufficient funds' },
  [ErrorCode.TransferConflict]: { status: 409, title: 'Transfer conflict' },
  [ErrorCode.LimitExceeded]: { status: 422, title: 'Limit exceeded' },
  [ErrorCode.InvalidPacket]: { status: 422, title: 'Invalid packet' },
  [ErrorCode.AudienceUnclaimable]: { status: 422, title: 'Audience cannot claim every share' },
  [ErrorCode.PacketNotFound]: { status: 404, title: 'Packet not found', detail: NOT_FOUND_DETAIL },
  [ErrorCode.PacketExpired]: { status: 410, title: 'Packet expired' },
  [ErrorCode.DayArchived]: { status: 410, title: 'Day archived' },
  // Not 410: an unopened hold returns its share to the pool, so an exhausted packet may offer one again.
  [ErrorCode.PacketExhausted]: { status: 409, title: 'Packet exhausted' },
  [ErrorCode.AlreadyClaimed]: { status: 409, title: 'Already claimed' },
  // A packet the user may not see answers exactly like a packet that does not exist (same status, code,
  // title and detail), so ids cannot be probed for existence (BOLA). Routes where the user already knows the
  // packet exists may throw their own 403 instead.
  [ErrorCode.NotAllowed]: {
    status: 404,
    title: 'Packet not found',
    code: ErrorCode.PacketNotFound,
    detail: NOT_FOUND_DETAIL,
  },
  [ErrorCode.NoHold]: { status: 409, title: 'No hold' },
  [ErrorCode.AlreadyHolding]: { status: 409, title: 'Already holding a share' },
  // The per-packet open queue is full: a moment later the same request can succeed.
  [ErrorCode.PacketBusy]: { status: 503, title: 'Packet busy', retryAfterSeconds: 1 },
  // The send's outcome is not known yet (Temporal slow or away): the same Idempotency-Key finds the same packet.
  [ErrorCode.PaymentPending]: { status: 503, title: 'Payment pending', retryAfterSeconds: 2 },
  [ErrorCode.IdempotencyKeyReused]: { status: 422, title: 'Idempotency key reused for another request' },
  [ErrorCode.PacketIdConflict]: { status: 503, title: 'Packet id taken', retryAfterSeconds: 1 },
};

export function domainProblem(err: DomainError): Problem {
  const shape = DOMAIN_PROBLEMS[err.code];
  // Domain messages are written for people and carry no SQL; details stay in the logs, not the answer.
  const problem = new Problem(
    shape.status,
    shape.code ?? err.code,
    shape.title,
    shape.detail ?? err.message,
    {},
    {
      cause: err,
    },
  );
  return shape.retryAfterSeconds
    ? problem.withHeader('Retry-After', String(shape.retryAfterSeconds))
    : problem;
}

export interface FieldIssue {
  field: string;
  code: string;
  message: string;
}

/** A hostile body may produce thousands of issues; the first few are enough to fix a request. */
const MAX_ISSUES = 20;

export function fieldIssues(err: ZodError, location: 'body' | 'query' | 'params' | 'headers'): FieldIssue[] {
  const issues: FieldIssue[] = [];
  for (const issue of err.issues) {
    const base = [location, ...issue.path.map(String)];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        issues.push({ field: [...base, key].join('.'), code: 'unrecognized_key', message: 'Unknown field' });
      }
    } else {
      issues.push({ field: base.join('.'), code: issue.code, message: issue.message });
    }
    if (issues.length >= MAX_ISSUES) break;
  }
  return issues.slice(0, MAX_ISSUES);
}

export function validationProblem(issues: FieldIssue[]): Problem {
  return new Problem(400, 'validation_failed', 'Validation failed', 'The request has invalid fields.', {
    errors: issues,
  });
}

/**
 * The router of Express 5 decodes each route parameter with decodeURIComponent and passes on its URIError
 * marked with status 400. The app refuses such paths before routing (malformedPathHandler); this keeps the
 * answer a 400 for any router mounted without that guard.
 */
function isParamDecodeError(err: unknown): boolean {
  return err instanceof URIError && (err as URIError & { status?: unknown }).status === 400;
}

/** Every known error type as a problem, or undefined for the unexpected (a 500 decided by the caller). */
export function toProblem(err: unknown): Problem | undefined {
  if (err instanceof Problem) return err;
  if (err instanceof DomainError) return domainProblem(err);
  if (err instanceof ZodError) return validationProblem(fieldIssues(err, 'body'));
  if (isParamDecodeError(err)) return invalidPathProblem(err);
  return undefined;
}
