/**
 * A credit pump, id `credit-pump-<shard>`: one long-lived workflow per shard that keeps the shard's
 * activity running. Each run of `runCreditPump` credits batches for up to CREDIT_PUMP_RUN_MS and returns
 * its figures, so the pump's history grows by a few events a minute whatever the claim rate. When runs
 * keep failing (Postgres unreachable), the pump backs off, sets CreditStuck on itself and publishes its
 * last known backlog; it clears on the next successful run. Continues-as-new when Temporal suggests it.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  log,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import {
  creditPumpViewQuery,
  CreditStuckKey,
  describeRetryNow,
  PendingCreditsKey,
  type CreditPumpInput,
  type CreditPumpView,
} from '../saga';
import {
  failingLines,
  failureMessage,
  FAILURE_BACKOFF_BASE_MS,
  historyFull,
  nextBackoffMs,
  pumpProbe,
  pumpRuns,
} from './pumpRuns';
import { handleRetryNow } from './creditPumpRetry';

export async function creditPumpWorkflow(input: CreditPumpInput, carried?: CreditPumpView): Promise<void> {
  const view: CreditPumpView = carried ?? {
    shard: input.shard,
    runs: 0,
    totals: { batches: 0, credited: 0, creditedFen: 0, setAside: 0, largestBatch: 0, backlog: 0 },
    creditStuck: false,
    failingSinceMs: null,
    lastError: null,
  };
  setHandler(creditPumpViewQuery, () => view);

  const show = () => {
    const t = view.totals;
    setCurrentDetails(
      [
        `**credit pump** shard ${view.shard}: ${t.credited} claims credited in ${t.batches} batches ` +
          `(largest ${t.largestBatch}), ${t.setAside} set aside, backlog ${t.backlog}`,
        ...failingLines(view),
        ...(view.lastRetryNow ? [describeRetryNow(view.lastRetryNow)] : []),
      ].join('\n'),
    );
  };
  handleRetryNow(view, show);

  let published = { stuck: false, backlog: -1 };
  const publish = () => {
    // Each upsert is a history event: only the stuck flag and a backlog worth a look are written.
    const backlog = view.creditStuck ? view.totals.backlog : 0;
    if (view.creditStuck !== published.stuck || backlog !== published.backlog) {
      upsertSearchAttributes([
        { key: CreditStuckKey, value: view.creditStuck },
        { key: PendingCreditsKey, value: backlog },
      ]);
      published = { stuck: view.creditStuck, backlog };
    }
    show();
  };
  publish();

  let backoffMs = FAILURE_BACKOFF_BASE_MS;
  for (;;) {
    try {
      // After a failure, one short run first, so that CreditStuck clears as soon as a batch goes through.
      const run = await pumpRuns.runCreditPump({
        shard: input.shard,
        ...(view.failingSinceMs !== null ? { runMs: 0 } : {}),
      });
      view.runs++;
      view.totals.batches += run.batches;
      view.totals.credited += run.credited;
      view.totals.creditedFen += run.creditedFen;
      view.totals.setAside += run.setAside;
      view.totals.largestBatch = Math.max(view.totals.largestBatch, run.largestBatch);
      view.totals.backlog = run.backlog;
      if (view.failingSinceMs !== null) log.info('credit pump recovered', { shard: input.shard });
      view.creditStuck = false;
      view.failingSinceMs = null;
      view.lastError = null;
      backoffMs = FAILURE_BACKOFF_BASE_MS;
      publish();
    } catch (err) {
      if (isCancellation(err)) throw err;
      view.failingSinceMs ??= Date.now();
      view.lastError = failureMessage(err);
      view.creditStuck = Date.now() - view.failingSinceMs >= input.stuckAfterMs;
      if (view.creditStuck) {
        view.totals.backlog = await pumpProbe
          .shardBacklog({ shard: input.shard })
          .catch(() => view.totals.backlog);
      }
      log.warn('credit pump failing', { shard: input.shard, error: view.lastError, stuck: view.creditStuck });
      publish();
      await sleep(backoffMs);
      backoffMs = nextBackoffMs(backoffMs);
    }
    if (historyFull(input.historyMaxEvents)) {
      // A retry-now request still running finishes here, so its caller gets its answer from this run.
      if (!allHandlersFinished()) await condition(allHandlersFinished);
      return continueAsNew<typeof creditPumpWorkflow>(input, view);
    }
  }
}
