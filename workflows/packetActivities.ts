/**
 * The packet workflow's activities, each with its options named: timeouts and retry policies are chosen per
 * step (payment retries until known, settlement a few times before the workflow's own loop takes over, the
 * gate quietly forever), never left to defaults.
 */
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { ErrorCode } from '../domain/errors';

/** Business refusals of the payment: the send answers with them and the workflow ends FAILED. */
export const PAYMENT_REFUSALS = new Set<string>([
  ErrorCode.InsufficientFunds,
  ErrorCode.InvalidPacket,
  ErrorCode.PacketIdConflict,
]);

/**
 * The payment runs in a local activity inside the first workflow task, which also answers the send's
 * Update-with-Start ("early return"): one workflow task instead of a task, an activity task and a second
 * task. A retried workflow task runs the payment again; `payOnce`'s decision row makes every run, and a
 * stale one that resumes later, obey the first verdict.
 */
export const localPayment = proxyLocalActivities<Activities>({
  startToCloseTimeout: '15 seconds',
  // Any attempt may have committed before its acknowledgement was lost, so payment is retried until it is
  // known; insufficient funds is a non-retryable business failure and ends the workflow.
  retry: {
    initialInterval: '200 milliseconds',
    maximumInterval: '10 seconds',
    nonRetryableErrorTypes: [...PAYMENT_REFUSALS],
  },
});

// The gate is only a filter (grabs fall back to Postgres without it), so arming retries quietly forever.
export const gate = proxyActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

// Settling takes one short transaction; run inside the workflow task it costs one marker event instead of
// an activity's three. Longer failures are retried by creditWithTracking, which reports CreditStuck.
export const settleLocally = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 milliseconds', maximumInterval: '2 seconds', maximumAttempts: 3 },
});
