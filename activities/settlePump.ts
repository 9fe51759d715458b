/**
 * Settle (清算) between cells: the settle pump's activity (docs/cells.md). One run delivers this cell's
 * outbox of cross-cell credits to one home cell for a bounded time: a batch of the oldest undelivered rows
 * goes to the home cell's internal endpoint, which posts them in one idempotent statement and answers per
 * item; acknowledged rows (applied now or before) are marked delivered, refused ones are parked. When the
 * outbox is empty it waits for a NOTIFY from the outbox trigger or the poll interval. A home cell that does
 * not answer fails the run (the workflow backs off and shows the stuck flag); nothing is marked, so the rows
 * go again, and the transfer ids make a resend of anything already applied a no-op.
 *
 * A batch the home cell answers with an error status (it is up, but the batch failed there; not 502, 503 or
 * 504, which say the cell cannot serve at all) is sent again one item at a time: the items that go through
 * alone are delivered, and those that fail alone are retried later with a backoff, apart from the batches,
 * so one poison item never holds up the rest. If every item fails alone, the failure is the home cell's,
 * not an item's, and the run fails as if it were down.
 */
import { Context } from '@temporalio/activity';
import type { CellSettings, ClearingSettings, CreditSettings } from '../config';
import type { Db } from '../db';
import { listen } from '../db/listen';
import { CellCallError, deliverXcredits, type XcreditBatch } from '../ledger/cellClient';
import type { XcreditResult } from '../ledger/xcredits';
import {
  markDelivered,
  markFailed,
  markRefused,
  nextOutboxBatch,
  outboxBacklog,
  type OutboxItem,
} from '../packets/store/clearing';
import type { SettlePumpRun } from '../saga';

export const settleChannel = (schema: string): string => `xcredit_outbox_${schema}`;

export interface SettleDeps {
  db: Db;
  credit: Pick<CreditSettings, 'pollIntervalMs' | 'pumpRunMs'>;
  cells?: CellSettings | undefined;
  clearing?: ClearingSettings | undefined;
}

/** An item that failed alone at the home cell: retried later, not refused. */
type Outcome = XcreditResult | { claimId: string; status: 'failed'; reason: string };

/**
 * An answer that may be an item's fault: the home cell answered, and not as a cell that is unavailable (a
 * router's 502 or 504, a 503 such as `region_unavailable` while its own Postgres is down), when a batch
 * resent item by item would only fail as many times over.
 */
const UNAVAILABLE_STATUSES = new Set([502, 503, 504]);
const isItemsFault = (err: unknown): err is CellCallError =>
  err instanceof CellCallError && err.status !== undefined && !UNAVAILABLE_STATUSES.has(err.status);

/** Sends a batch; on an error status that may be an item's, each item alone (see the header). */
async function deliverIsolating(
  send: (items: OutboxItem[]) => Promise<XcreditResult[]>,
  items: OutboxItem[],
): Promise<Outcome[]> {
  try {
    return await send(items);
  } catch (err) {
    if (!isItemsFault(err) || items.length === 1) throw err;
    const outcomes: Outcome[] = [];
    for (const item of items) {
      try {
        outcomes.push(...(await send([item])));
      } catch (alone) {
        if (!(alone instanceof CellCallError) || alone.status === undefined) throw alone;
        outcomes.push({ claimId: item.claimId, status: 'failed', reason: alone.message });
      }
    }
    if (outcomes.every((outcome) => outcome.status === 'failed')) throw err;
    return outcomes;
  }
}

export function createSettlePumpActivities(deps: SettleDeps) {
  const { db, credit } = deps;

  /** This cell's settings towards `homeCell`, or a clear failure when the worker was not given them. */
  function target(homeCell: string) {
    const { cells, clearing } = deps;
    const url = cells?.urls[homeCell];
    if (!cells || !clearing || !url || !cells.internalToken || homeCell === cells.self)
      throw new Error(`this worker has no route to cell ${homeCell} (CELLS, CELL_URLS, CELL_INTERNAL_TOKEN)`);
    return { self: cells.self, allCells: cells.all, url, token: cells.internalToken, clearing };
  }

  return {
    /** Undelivered rows for a home cell (the pump publishes it while it is stuck). */
    async settleBacklog(input: { homeCell: string }): Promise<{ backlog: number; parked: number }> {
      const { backlog, held } = await outboxBacklog(db, input.homeCell);
      return { backlog, parked: held };
    },

    /** Delivers for `runMs` (default CREDIT_PUMP_RUN_MS), always at least one batch. */
    async runSettlePump(input: { homeCell: string; runMs?: number }): Promise<SettlePumpRun> {
      const ctx = Context.current();
      const { self, allCells, url, token, clearing } = target(input.homeCell);
      const send = (items: XcreditBatch['items']) =>
        deliverXcredits(url, token, { fromCell: self, cells: allCells, items }, clearing.requestTimeoutMs);
      const run: SettlePumpRun = { batches: 0, applied: 0, replayed: 0, refused: 0, backlog: 0, parked: 0 };
      const listener = await listen(db, settleChannel(db.schema), (payload) => payload === input.homeCell);
      const abort = ctx.cancellationSignal;
      const endMs = Date.now() + (input.runMs ?? credit.pumpRunMs);
      try {
        do {
          ctx.heartbeat(run);
          const items = await nextOutboxBatch(db, input.homeCell, clearing.batchMax);
          if (items.length > 0) {
            const outcomes = await deliverIsolating(send, items);
            run.batches++;
            const of = (...statuses: Outcome['status'][]) =>
              outcomes.filter((o) => statuses.includes(o.status));
            const refused = of('conflict', 'refused');
            const failed = of('failed');
            await markDelivered(
              db,
              of('applied', 'replayed').map((o) => o.claimId),
            );
            await markRefused(
              db,
              refused.map((o) => ({ claimId: o.claimId, reason: `${o.status}: ${o.reason ?? ''}` })),
            );
            await markFailed(
              db,
              failed.map((o) => ({ claimId: o.claimId, reason: `failed alone: ${o.reason ?? ''}` })),
            );
            for (const o of [...refused, ...failed])
              ctx.log.error('cross-cell credit not delivered', { ...o, homeCell: input.homeCell });
            run.applied += of('applied').length;
            run.replayed += of('replayed').length;
            run.refused += refused.length;
            // A held row ends the run, so the workflow shows its stuck flag now rather than at the run's end.
            if (refused.length + failed.length > 0) break;
            if (items.length >= clearing.batchMax) continue;
          }
          const untilEndMs = endMs - Date.now();
          if (untilEndMs <= 0) break;
          await listener.wait(Math.min(credit.pollIntervalMs, untilEndMs), abort);
        } while (Date.now() < endMs && !abort.aborted);
      } finally {
        await listener.close();
      }
      const { backlog, held } = await outboxBacklog(db, input.homeCell);
      return { ...run, backlog, parked: held };
    },
  };
}
