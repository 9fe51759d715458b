/**
 * Credit (入账): the credit pump's activity. One run credits a shard's claims across packets for a bounded
 * time: a batch (one Postgres transaction) at once while batches come back full, otherwise it waits for a
 * NOTIFY from the claims trigger or the poll interval, whichever is first. It heartbeats, so a killed
 * worker's run is retried elsewhere within the heartbeat timeout; the transaction it was in rolls back, and
 * transfer ids plus SKIP LOCKED make every claim credited exactly once whoever runs. It tells packet
 * workflows directly (a signal from here costs the pump's history nothing): "all credited" for packets big
 * enough to be worth a wake-up and for every packet settlement closed with credits owed, and the list of
 * stuck credits when it changes. Every few seconds it also finishes packets whose "finished" mark was lost.
 */
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/common';
import type { CreditSettings } from '../config';
import type { Db } from '../db';
import { listen } from '../db/listen';
import {
  creditDueSetAside,
  creditNextBatch,
  SET_ASIDE_RETRIES_PER_PASS,
  type BatchOutcome,
} from '../packets/creditBatch';
import { reportStuckCredits } from '../packets/creditHealth';
import {
  finishAwaitingPackets,
  shardBacklog,
  shardOfHash,
  type FinishedPacket,
  type QueueSlice,
} from '../packets/store/credits';
import type { CellTopology } from '../packets/store/clearing';
import { newlyStuckPackets } from '../packets/store/creditFailures';
import { allCreditedSignal, creditHealthSignal, packetWorkflowId, type CreditPumpRun } from '../saga';
import { pumpFiguresReader, type CreditPumpMetrics } from './creditPumpMetrics';

/** How often a run retries set-aside claims that are due and looks for claims that have just become stuck. */
const SET_ASIDE_CHECK_INTERVAL_MS = 1_000;
/**
 * How often a run looks for packets whose claims are all credited but that nobody marked finished (a lost
 * mark: finishAwaitingPackets), and how many it finishes per look. Lost marks are rare, so the look is
 * cheap (a small partial index) and seldom; it bounds how late such a packet's workflow hears the news.
 */
const FINISH_SWEEP_INTERVAL_MS = 5_000;
const FINISH_SWEEP_LIMIT = 100;

export const creditChannel = (schema: string): string => `credit_claims_${schema}`;

/**
 * The NOTIFY payload of a retry-now request (activities/creditRetryNow.ts) for one shard. It shares the claims'
 * channel, so a running pump needs no second connection to hear it; the claims trigger's payloads are bare
 * numbers (shard hashes), so the two cannot be confused, and a pump of older code reads this one as another
 * shard's and ignores it (the claims are then taken at its next set-aside pass, within a second).
 */
const RETRY_NOW_PAYLOAD_PREFIX = 'retry-now:';
export const retryNowPayload = (shard: number): string => `${RETRY_NOW_PAYLOAD_PREFIX}${shard}`;

/**
 * Whether a NOTIFY payload belongs to this shard: a claim's (its packet's shard hash), or a retry-now request
 * for this shard, which also calls `onRetryNow`.
 */
const ofShard = (slice: QueueSlice, onRetryNow: () => void) => (payload: string | undefined) => {
  if (payload?.startsWith(RETRY_NOW_PAYLOAD_PREFIX)) {
    const mine = payload === retryNowPayload(slice.shard);
    if (mine) onRetryNow();
    return mine;
  }
  return (
    payload === undefined || payload === '' || shardOfHash(Number(payload), slice.shards) === slice.shard
  );
};

export function createCreditActivities(deps: {
  db: Db;
  credit: CreditSettings;
  cells?: CellTopology | undefined;
  /** The worker's gauges of its pumps (docs/operators.md); none in tests that do not look. */
  pumpMetrics?: CreditPumpMetrics | undefined;
}) {
  const { db, credit, cells, pumpMetrics } = deps;

  /**
   * Signals a packet workflow. True once delivered, or when the workflow is gone (closed: nobody is left to
   * tell); false when the signal may have been lost, which only delays what the workflow learns: an open
   * packet's until its expiry, a closed one's until its next re-check (workflows/packetSettle.ts,
   * closeThenAwaitCredits).
   */
  async function tell(packetId: string, send: (id: string) => Promise<void>): Promise<boolean> {
    try {
      await send(packetWorkflowId(packetId));
      return true;
    } catch (err) {
      Context.current().log.warn('packet workflow not signalled', { packetId, error: String(err) });
      return err instanceof WorkflowNotFoundError;
    }
  }

  async function reportStuck(packetIds: Iterable<string>): Promise<void> {
    const client = Context.current().client;
    await reportStuckCredits(db, credit.stuckAfterMs, packetIds, (packetId, stuck) =>
      tell(packetId, (id) => client.workflow.getHandle(id).signal(creditHealthSignal, { stuck })),
    );
  }

  /**
   * "All credited" to the workflows of packets just finished: always when settlement had closed the packet
   * (its workflow waits for this), otherwise for packets big enough to be worth a wake-up before expiry.
   */
  async function tellFinished(finished: readonly FinishedPacket[]): Promise<void> {
    const told = finished.filter(
      (packet) => packet.wasClosed || packet.shareCount >= credit.finishSignalMinShares,
    );
    if (told.length === 0) return;
    const client = Context.current().client;
    await Promise.all(
      told.map((packet) => tell(packet.id, (id) => client.workflow.getHandle(id).signal(allCreditedSignal))),
    );
  }

  async function afterBatch(outcome: BatchOutcome): Promise<void> {
    await tellFinished(outcome.finished);
    if (outcome.recoveredPacketIds.length > 0) await reportStuck(outcome.recoveredPacketIds);
  }

  return {
    /** Uncredited claims of a shard (the pump publishes it while it is stuck). */
    async shardBacklog(input: { shard: number }): Promise<number> {
      return shardBacklog(db, { shard: input.shard, shards: credit.shards });
    },

    /**
     * Credits for `runMs` (default CREDIT_PUMP_RUN_MS), always at least one batch: after a failure the
     * workflow asks for a short run, so that it can clear CreditStuck as soon as a batch goes through.
     */
    async runCreditPump(input: { shard: number; runMs?: number }): Promise<CreditPumpRun> {
      const ctx = Context.current();
      const slice: QueueSlice = {
        shard: input.shard,
        shards: credit.shards,
        largeMinFen: credit.largeMinFen,
        limit: credit.batchMax,
        ...(credit.queueDays === undefined ? {} : { queueDays: credit.queueDays }),
      };
      const run: CreditPumpRun = {
        batches: 0,
        credited: 0,
        creditedFen: 0,
        setAside: 0,
        largestBatch: 0,
        backlog: 0,
      };
      // A retry-now request makes claims due and wakes the run: their pass is then due at once.
      let retryNowAsked = false;
      const listener = await listen(
        db,
        creditChannel(db.schema),
        ofShard(slice, () => (retryNowAsked = true)),
      );
      const abort = ctx.cancellationSignal;
      const endMs = Date.now() + (input.runMs ?? credit.pumpRunMs);
      let nextSetAsideCheckMs = 0;
      let nextFinishSweepMs = 0;
      const figures = pumpFiguresReader(db, slice, credit.stuckAfterMs, pumpMetrics, (message, meta) => {
        ctx.log.warn(message, meta);
      });
      const count = async (outcome: BatchOutcome) => {
        run.credited += outcome.credited;
        run.creditedFen += outcome.creditedFen;
        run.setAside += outcome.setAside;
        pumpMetrics?.outcome(slice.shard, outcome);
        await afterBatch(outcome);
      };
      try {
        do {
          ctx.heartbeat(run);
          if (retryNowAsked) {
            retryNowAsked = false;
            nextSetAsideCheckMs = 0;
          }
          const batchStartMs = performance.now();
          const outcome = await creditNextBatch(db, slice, credit.lockTimeoutMs, cells);
          if (outcome.picked > 0) {
            run.batches++;
            const seconds = (performance.now() - batchStartMs) / 1000;
            pumpMetrics?.batch(slice.shard, { picked: outcome.picked, seconds });
          }
          run.largestBatch = Math.max(run.largestBatch, outcome.picked);
          await count(outcome);
          // A full pass that credited every claim it tried says their cause is gone (a retry-now after a fix,
          // typically): the next pass follows at once, as a full batch does, rather than a second later.
          let setAsideLeft = false;
          if (Date.now() >= nextSetAsideCheckMs) {
            const pass = await creditDueSetAside(db, slice, credit.lockTimeoutMs, cells);
            setAsideLeft = pass.credited >= SET_ASIDE_RETRIES_PER_PASS;
            nextSetAsideCheckMs = setAsideLeft ? 0 : Date.now() + SET_ASIDE_CHECK_INTERVAL_MS;
            await count(pass);
            await reportStuck(await newlyStuckPackets(db, slice, credit.stuckAfterMs));
          }
          if (Date.now() >= nextFinishSweepMs) {
            nextFinishSweepMs = Date.now() + FINISH_SWEEP_INTERVAL_MS;
            await tellFinished(await finishAwaitingPackets(db, slice, FINISH_SWEEP_LIMIT));
          }
          await figures.due();
          if (outcome.picked >= slice.limit || setAsideLeft) continue;
          const untilEndMs = endMs - Date.now();
          if (untilEndMs <= 0) break;
          await listener.wait(Math.min(credit.pollIntervalMs, untilEndMs), abort);
          // Opens arrive one by one: a short gap after a wake-up lets one batch take many of them. An operator
          // waiting on a retry-now is one request, not a crowd: no gap for it.
          if (credit.batchGapMs > 0 && !abort.aborted && !retryNowAsked)
            await new Promise((r) => setTimeout(r, credit.batchGapMs));
        } while (Date.now() < endMs && !abort.aborted);
      } finally {
        await listener.close();
      }
      run.backlog = await shardBacklog(db, slice);
      return run;
    },
  };
}
