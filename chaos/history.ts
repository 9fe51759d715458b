/**
 * Every client operation, as Jepsen records them: invoked, then ok (a success answer), failed (a definite
 * refusal: a 4xx that promises nothing happened) or unknown (timeout, connection reset, 5xx, or 409
 * idempotency_in_flight: the effect may or may not have happened). The checker judges the database against
 * these, so a wrong answer is caught however the fault schedule went.
 */
import type { HttpAnswer } from '../bench/http';

export type Outcome = 'ok' | 'failed' | 'unknown';
export type OpKind = 'deposit' | 'send' | 'grab' | 'open' | 'balance' | 'bills' | 'detail' | 'received';

export interface Op {
  kind: OpKind;
  userId: string;
  invokedMs: number;
  doneMs: number;
  outcome: Outcome;
  status: number;
  /** The problem's code for a refusal or 5xx, the network error for status 0. */
  code?: string;
  /** The Idempotency-Key (deposits, sends): retries of one logical operation share it. */
  key?: string;
  packetId?: string;
  claimId?: string;
  amountFen?: number;
  /** The wallet a deposit funds. */
  forUserId?: string;
  /** With --cells: the cell whose API the request entered by (it forwards what the other cell owns). */
  entry?: string;
}

/** Codes that sound like refusals but leave the outcome open: the first request may still commit. */
const UNKNOWN_4XX = new Set(['idempotency_in_flight']);

export function classify(answer: HttpAnswer): {
  outcome: Outcome;
  code?: string;
  body?: Record<string, unknown>;
} {
  let body: Record<string, unknown> | undefined;
  try {
    body = answer.body ? (JSON.parse(answer.body) as Record<string, unknown>) : undefined;
  } catch {
    body = undefined;
  }
  const code = typeof body?.code === 'string' ? body.code : answer.error;
  if (answer.status === 0 || answer.status >= 500) return { outcome: 'unknown', code, body };
  if (answer.status >= 400)
    return { outcome: code && UNKNOWN_4XX.has(code) ? 'unknown' : 'failed', code, body };
  return { outcome: 'ok', code, body };
}

export class History {
  readonly ops: Op[] = [];
  /** Answers that break the contract on their face (a negative balance, a claim above its packet). */
  readonly wrongAnswers: string[] = [];

  record(op: Op): void {
    this.ops.push(op);
  }

  wrong(detail: string): void {
    this.wrongAnswers.push(detail);
  }

  of(kind: OpKind): Op[] {
    return this.ops.filter((op) => op.kind === kind);
  }
}
