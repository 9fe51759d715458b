/**
 * Typed domain errors. `code` is stable: it is the problem `code` clients see, and the ApplicationFailure
 * type a workflow sees, so both sides switch on the same constant and never on a class name or message.
 */
export const ErrorCode = {
  InvalidAmount: 'invalid_amount',
  InvalidAccount: 'invalid_account',
  UnknownAccount: 'unknown_account',
  SelfTransfer: 'self_transfer',
  InsufficientFunds: 'insufficient_funds',
  TransferConflict: 'transfer_conflict',
  LimitExceeded: 'limit_exceeded',
  InvalidPacket: 'invalid_packet',
  /** An audience with fewer members than shares once the sender (who never claims) is left out. */
  AudienceUnclaimable: 'audience_unclaimable',
  PacketNotFound: 'packet_not_found',
  PacketExpired: 'packet_expired',
  PacketExhausted: 'packet_exhausted',
  AlreadyClaimed: 'already_claimed',
  NotAllowed: 'not_allowed',
  NoHold: 'no_hold',
  AlreadyHolding: 'already_holding',
  PacketBusy: 'packet_busy',
  PaymentPending: 'payment_pending',
  IdempotencyKeyReused: 'idempotency_key_reused',
  /** A pre-allocated packet id turned out to be another packet's (the workflow's failure type). */
  PacketIdConflict: 'packet_id_conflict',
  /** The request names a day that is archived (docs/day-tables.md, "Cold days"): its rows are no longer live. */
  DayArchived: 'day_archived',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class DomainError extends Error {
  override readonly name = 'DomainError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isDomainError(err: unknown, code?: ErrorCode): err is DomainError {
  return err instanceof DomainError && (code === undefined || err.code === code);
}

/**
 * Builds an error without capturing a stack trace. Refusals (404, 409, 410, 429) are answers, not faults:
 * nobody reads their stack, and in a storm thousands a second would each pay for one.
 */
export function withoutStack<T>(build: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return build();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** A DomainError that answers a request (a refusal), built without a stack trace. */
export const refusal = (code: ErrorCode, message: string): DomainError =>
  withoutStack(() => new DomainError(code, message));
