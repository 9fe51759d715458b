/**
 * The credit pump's `retryNow` update (saga/retryNow.ts, docs/credit-pump.md "Retry a stuck credit now").
 * An update rather than a signal: its validator refuses a bad input before anything reaches the pump's
 * history, and its answer tells the operator (Temporal UI, `temporal workflow update execute`,
 * `npm run retry-credits`) how many claims were made due and what became of them. The work is one activity,
 * run beside the pump's long-lived run, which it wakes; the pump's loop and its commands are untouched, so
 * histories written before the handler existed replay as they were.
 */
import { ApplicationFailure, isCancellation, proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  retryNowProblem,
  retryNowUpdate,
  type CreditPumpView,
  type RetryNowInput,
  type RetryNowRecord,
} from '../saga';
import { failureMessage } from './pumpRuns';

const retryActivities = proxyActivities<Activities>({
  // The activity watches the claims for a few seconds (RETRY_NOW_WATCH_MS) after two short statements.
  startToCloseTimeout: '1 minute',
  // Postgres briefly away is worth two more tries; a refusal (another shard's packet) is not retried.
  retry: { initialInterval: '500 milliseconds', maximumInterval: '5 seconds', maximumAttempts: 3 },
});

/** Installs the handler; `show` refreshes the pump's current details after the view changed. */
export function handleRetryNow(view: CreditPumpView, show: () => void): void {
  setHandler(
    retryNowUpdate,
    async (input: RetryNowInput | undefined) => {
      const packetId = input?.packetId ?? null;
      // A later request replaces this record in the view; this one then finishes on its own copy.
      const record: RetryNowRecord = { askedAtMs: Date.now(), packetId, error: null };
      view.lastRetryNow = record;
      show();
      try {
        record.outcome = await retryActivities.retrySetAsideNow({
          shard: view.shard,
          ...(packetId === null ? {} : { packetId }),
        });
        return record.outcome;
      } catch (err) {
        if (isCancellation(err)) throw err;
        record.error = failureMessage(err);
        // An ApplicationFailure fails this update only; any other error would fail the workflow task.
        throw ApplicationFailure.nonRetryable(record.error, 'RetryNowFailed');
      } finally {
        show();
      }
    },
    {
      validator: (input: RetryNowInput | undefined) => {
        const problem = retryNowProblem(input);
        if (problem !== undefined) throw new Error(problem);
      },
    },
  );
}
