/**
 * A settle pump, id `settle-pump-<homeCell>` (docs/cells.md): one long-lived workflow per other cell, in the
 * packets' cell, that keeps `runSettlePump` delivering the outbox of cross-cell credits to that home cell.
 * Shaped like the credit pump (workflows/creditPump.ts): runs of CREDIT_PUMP_RUN_MS, LISTEN plus poll in
 * the activity, heartbeats, a backoff while runs fail, continue-as-new when Temporal suggests it. While
 * the home cell is down the outbox waits; after CREDIT_STUCK_AFTER_MS of failures, or while a row is held (a
 * refusal parked, or an item failing alone), the pump sets XcreditStuck and CreditStuck and publishes its backlog (XcreditBacklog and
 * PendingCredits), so the one CreditStuck query still finds every stuck credit.
 */
import {
  continueAsNew,
  isCancellation,
  log,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import {
  CreditStuckKey,
  PendingCreditsKey,
  settlePumpViewQuery,
  XcreditBacklogKey,
  XcreditStuckKey,
  type SettlePumpInput,
  type SettlePumpView,
} from '../saga';
import {
  failingLines,
  failureMessage,
  FAILURE_BACKOFF_BASE_MS,
  historyFull,
  nextBackoffMs,
  SETTLE_FAILURE_BACKOFF_MAX_MS,
  pumpProbe,
  pumpRuns,
} from './pumpRuns';

export async function settlePumpWorkflow(input: SettlePumpInput, carried?: SettlePumpView): Promise<void> {
  const view: SettlePumpView = carried ?? {
    homeCell: input.homeCell,
    runs: 0,
    totals: { batches: 0, applied: 0, replayed: 0, refused: 0, backlog: 0, parked: 0 },
    stuck: false,
    failingSinceMs: null,
    lastError: null,
  };
  setHandler(settlePumpViewQuery, () => view);

  let published = { stuck: false, backlog: -1 };
  const publish = () => {
    const backlog = view.stuck ? view.totals.backlog : 0;
    if (view.stuck !== published.stuck || backlog !== published.backlog) {
      upsertSearchAttributes([
        { key: XcreditStuckKey, value: view.stuck },
        { key: XcreditBacklogKey, value: backlog },
        { key: CreditStuckKey, value: view.stuck },
        { key: PendingCreditsKey, value: backlog },
      ]);
      published = { stuck: view.stuck, backlog };
    }
    const t = view.totals;
    setCurrentDetails(
      [
        `**settle pump** to cell ${view.homeCell}: ${t.applied} delivered in ${t.batches} batches ` +
          `(${t.replayed} resent), ${t.refused} refused, backlog ${t.backlog} (${t.parked} parked)`,
        ...failingLines(view),
      ].join('\n'),
    );
  };
  publish();

  let backoffMs = FAILURE_BACKOFF_BASE_MS;
  for (;;) {
    try {
      // After a failure one short run, so the flag clears at the first good batch; while a row is held, runs
      // of CREDIT_STUCK_AFTER_MS at most, so the flag clears that soon after the row goes through.
      const runMs = view.failingSinceMs !== null ? 0 : view.stuck ? input.stuckAfterMs : undefined;
      const run = await pumpRuns.runSettlePump({
        homeCell: input.homeCell,
        ...(runMs !== undefined ? { runMs } : {}),
      });
      view.runs++;
      const t = view.totals;
      t.batches += run.batches;
      t.applied += run.applied;
      t.replayed += run.replayed;
      t.refused += run.refused;
      t.backlog = run.backlog;
      t.parked = run.parked;
      if (view.failingSinceMs !== null) log.info('settle pump recovered', { homeCell: input.homeCell });
      view.failingSinceMs = null;
      view.lastError = null;
      // A held row (a parked refusal, or an item failing alone) keeps the pump stuck until it is delivered.
      view.stuck = run.parked > 0;
      backoffMs = FAILURE_BACKOFF_BASE_MS;
      publish();
    } catch (err) {
      if (isCancellation(err)) throw err;
      view.failingSinceMs ??= Date.now();
      view.lastError = failureMessage(err);
      view.stuck = Date.now() - view.failingSinceMs >= input.stuckAfterMs || view.totals.parked > 0;
      if (view.stuck) {
        const counts = await pumpProbe
          .settleBacklog({ homeCell: input.homeCell })
          .catch(() => ({ backlog: view.totals.backlog, parked: view.totals.parked }));
        view.totals.backlog = counts.backlog;
        view.totals.parked = counts.parked;
      }
      log.warn('settle pump failing', { homeCell: input.homeCell, error: view.lastError, stuck: view.stuck });
      publish();
      await sleep(backoffMs);
      backoffMs = nextBackoffMs(backoffMs, SETTLE_FAILURE_BACKOFF_MAX_MS);
    }
    if (historyFull(input.historyMaxEvents)) {
      return continueAsNew<typeof settlePumpWorkflow>(input, view);
    }
  }
}
