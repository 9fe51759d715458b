/**
 * Retry now (issue 31, docs/credit-pump.md "Retry a stuck credit now"): an operator who has fixed what kept a
 * set-aside claim from being credited asks its credit pump to retry at once instead of waiting out the
 * claim's backoff (up to 5 minutes). It is an update on the pump workflow `credit-pump-<shard>`, named
 * `retryNow`, whose input is `{}` (every set-aside claim of the shard) or `{"packetId": "<id>"}` (that
 * packet's). It makes the claims due and wakes the pump; the pump credits them in its own transaction, as
 * always, so the request never moves money itself.
 */
import { defineUpdate } from '@temporalio/workflow';

export const RETRY_NOW_UPDATE_NAME = 'retryNow';

/** Without packetId: every set-aside claim of the pump's shard. */
export interface RetryNowInput {
  packetId?: string;
}

/** What a retry-now request did, as the update answers it and the pump's view keeps the last one. */
export interface RetryNowOutcome {
  shard: number;
  packetId: string | null;
  /** Set-aside claims made due now (their retry time set to now, their backoff started over). */
  madeDue: number;
  /** Of those, credited by the pump by the time the answer was written. */
  credited: number;
  /** Of those, tried again and set aside again: the cause is not fixed yet; lastError says what failed. */
  failedAgain: number;
  /** Of those, not tried yet when the answer was written (a busy pump takes 20 a pass); they stay due. */
  stillDue: number;
  lastError: string | null;
  /** How long the request watched the claims before it answered. */
  watchedMs: number;
}

/** Typed with its input; a request sent with none at all (the UI's empty input) is read as `{}`. */
export const retryNowUpdate = defineUpdate<RetryNowOutcome, [RetryNowInput]>(RETRY_NOW_UPDATE_NAME);

/**
 * Packet ids are the API's resource ids (RESOURCE_ID_PATTERN in api/validation.ts): new ones look like
 * `20261207cn1r00000000042k3vq2mxd7a4zb`, older ones and tests' may be any 1-64 of these characters.
 */
const PACKET_ID_SHAPE = /^[A-Za-z0-9_-]{1,64}$/;

const USAGE = `${RETRY_NOW_UPDATE_NAME} takes {} (every set-aside claim of this pump's shard) or {"packetId": "<packet id>"}`;

/**
 * Why an input is refused, or undefined when it is good. The pump's update validator asks this, so a bad
 * request is answered before anything is written to the pump's history, and the CLI asks it before it calls
 * anyone. Unknown keys are refused rather than ignored: `{"packetID": ...}` read as `{}` would retry the
 * whole shard when one packet was meant.
 */
export function retryNowProblem(input: unknown): string | undefined {
  if (input === undefined || input === null) return undefined;
  if (typeof input !== 'object' || Array.isArray(input)) return `${USAGE}; got ${JSON.stringify(input)}`;
  const extra = Object.keys(input).filter((key) => key !== 'packetId');
  if (extra.length > 0) return `${USAGE}; unknown key ${JSON.stringify(extra[0])}`;
  const { packetId } = input as { packetId?: unknown };
  if (packetId === undefined) return undefined;
  if (typeof packetId !== 'string' || !PACKET_ID_SHAPE.test(packetId))
    return `${JSON.stringify(packetId)} is not a packet id (1-64 letters, digits, _ or -, e.g. 20261207cn1r00000000042k3vq2mxd7a4zb)`;
  return undefined;
}

/** The last retry-now request a pump heard, in its view (creditPumpView) and current details. */
export interface RetryNowRecord {
  askedAtMs: number;
  packetId: string | null;
  /** Absent while the request runs. */
  outcome?: RetryNowOutcome;
  /** Why it failed (a packet of another shard or cell, Postgres unreachable), else null. */
  error: string | null;
}

/** One line of the pump's current details about the last request. */
export function describeRetryNow(last: RetryNowRecord): string {
  const what = last.packetId === null ? 'every set-aside claim of the shard' : `packet ${last.packetId}`;
  const head = `retry now asked ${new Date(last.askedAtMs).toISOString()} for ${what}: `;
  if (last.error !== null) return `${head}failed: ${last.error}`;
  const o = last.outcome;
  if (!o) return `${head}running`;
  return (
    `${head}${o.madeDue} made due, ${o.credited} credited, ${o.failedAgain} failed again, ` +
    `${o.stillDue} still due` +
    (o.lastError ? ` (last error: ${o.lastError})` : '')
  );
}
