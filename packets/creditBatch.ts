/**
 * One step of a credit pump: credit the next batch of a shard's claims in one transaction. When the batch
 * fails because of one of its claims (a constraint, a poison row, an account row another transaction holds
 * past the lock timeout), each claim is retried alone and the failing ones are set aside with their error
 * and a backoff, so the rest of the batch commits now and one bad claim never blocks the shard. Set-aside
 * claims are retried apart from the batch (`creditDueSetAside`), alone and with short lock waits, so a claim
 * known to fail never holds a batch up again. Failures of Postgres itself (connection, shutdown, statement
 * timeout) are thrown: then nothing can be credited, and the pump's workflow reports that.
 */
import { PgErrorCode, pgErrorCode, type Db, type Tx } from '../db';
import { isDomainError } from '../domain/errors';
import {
  creditLockedClaims,
  dueSetAsideClaims,
  lockClaimIfQueued,
  lockQueuedClaims,
  markFinished,
  type CreditableClaim,
  type FinishedPacket,
  type QueueSlice,
} from './store/credits';
import { clearingRoute, type CellTopology, type ClearingRoute } from './store/clearing';
import { recordCreditFailure } from './store/creditFailures';

/** Retrying a set-aside claim: 1 s, doubling, at most 5 minutes apart. */
export const FAILED_CLAIM_RETRY_BASE_MS = 1_000;
export const FAILED_CLAIM_RETRY_MAX_MS = 5 * 60_000;

export const failedClaimRetryMs = (attempts: number): number =>
  Math.min(FAILED_CLAIM_RETRY_BASE_MS * 2 ** Math.min(attempts - 1, 20), FAILED_CLAIM_RETRY_MAX_MS);

export interface BatchOutcome {
  /** Claims the batch picked up: equal to the limit means more may be waiting. */
  picked: number;
  credited: number;
  creditedFen: number;
  setAside: number;
  /** Packets this batch finished (claims final and all credited). */
  finished: FinishedPacket[];
  /** Packets with a stuck credit that went through: their workflow should hear the new list. */
  recoveredPacketIds: string[];
}

/** Postgres classes that say the server or the connection failed, not the claim: 08 connection, 53
 * resources, 57 operator intervention (shutdown, statement timeout), 40 transaction rollback. A lock
 * timeout (55P03) is a claim's: another transaction holds one of its account rows. */
const SERVER_CLASSES = new Set(['08', '40', '53', '57', '58', 'XX']);

/** True when the error belongs to the rows being credited, so isolating them can help. */
export function isClaimError(err: unknown): boolean {
  if (isDomainError(err)) return true;
  const code = pgErrorCode(err);
  return code !== undefined && !SERVER_CLASSES.has(code.slice(0, 2));
}

const messageOf = (err: unknown): string => {
  const message = err instanceof Error ? err.message : String(err);
  return pgErrorCode(err) === PgErrorCode.LockNotAvailable
    ? `another transaction held an account row of this claim past the credit lock timeout: ${message}`
    : message;
};

/** The lock wait a set-aside claim's retry may spend: it failed before, so it gets a short one. */
export const SET_ASIDE_RETRY_LOCK_WAIT_MS = 100;
/** Set-aside claims retried per pass, so a pass stays short however many are due. */
export const SET_ASIDE_RETRIES_PER_PASS = 20;
/** A claim tried once the step's lock budget is spent still waits this long for a row (about NOWAIT). */
const LOCK_WAIT_FLOOR_MS = 1;

/**
 * Bounds how long one step waits for rows held elsewhere: every claim tried alone gets the rest of the
 * budget as its lock timeout, and only waits that ended in a lock timeout spend it, so a step with k
 * claims behind held rows waits at most its budget plus k milliseconds, not k lock timeouts. Without a
 * lock timeout (undefined) nothing is set and the statement timeout bounds the wait, as before.
 */
class LockBudget {
  constructor(private remainingMs: number | undefined) {}
  timeoutMs(): number | undefined {
    return this.remainingMs === undefined
      ? undefined
      : Math.max(LOCK_WAIT_FLOOR_MS, Math.round(this.remainingMs));
  }
  spend(err: unknown, waitedMs: number): void {
    if (this.remainingMs !== undefined && pgErrorCode(err) === PgErrorCode.LockNotAvailable)
      this.remainingMs -= waitedMs;
  }
}

async function creditInOneTransaction(
  db: Db,
  pick: (tx: Tx) => Promise<CreditableClaim[]>,
  picked: CreditableClaim[],
  lockTimeoutMs: number | undefined,
  route: ClearingRoute | undefined,
) {
  return db.withTransaction(
    async (tx) => {
      const claims = await pick(tx);
      picked.push(...claims);
      const { creditedFen, recoveredPacketIds } = await creditLockedClaims(tx, claims, route);
      // Every packet credited here is a candidate for the mark after commit: a check inside this transaction
      // cannot see a claim of the same packet that another pump attempt is committing at the same moment.
      const done = [...new Set(claims.map((claim) => claim.packetId))];
      return { claims, creditedFen, recoveredPacketIds, done };
    },
    lockTimeoutMs === undefined ? {} : { lockTimeoutMs },
  );
}

const emptyOutcome = (): BatchOutcome => ({
  picked: 0,
  credited: 0,
  creditedFen: 0,
  setAside: 0,
  finished: [],
  recoveredPacketIds: [],
});

/**
 * Credits the next batch of the shard. `lockTimeoutMs` (CREDIT_LOCK_TIMEOUT_MS) bounds the batch's wait for
 * an account row held elsewhere; the claims isolated after such a failure share one more of it. `cells`
 * (several cells only) sends claims of users homed elsewhere into clearing, on the shard's lane.
 */
export async function creditNextBatch(
  db: Db,
  slice: QueueSlice,
  lockTimeoutMs?: number,
  cells?: CellTopology,
): Promise<BatchOutcome> {
  const route = clearingRoute(cells, slice.shards, slice.shard);
  const picked: CreditableClaim[] = [];
  const outcome = emptyOutcome();
  const done: string[] = [];
  try {
    const batch = await creditInOneTransaction(
      db,
      (tx) => lockQueuedClaims(tx, slice),
      picked,
      lockTimeoutMs,
      route,
    );
    outcome.picked = outcome.credited = batch.claims.length;
    outcome.creditedFen = batch.creditedFen;
    outcome.recoveredPacketIds = batch.recoveredPacketIds;
    done.push(...batch.done);
  } catch (err) {
    if (!isClaimError(err) || picked.length === 0) throw err;
    outcome.picked = picked.length;
    await creditEachAlone(db, picked, outcome, done, new LockBudget(lockTimeoutMs), route);
  }
  outcome.finished = await markFinished(db, done);
  return outcome;
}

/**
 * Retries the shard's set-aside claims whose retry time has come, each alone with a short lock wait (they
 * are left out of the batch, so a claim whose row is still held costs the shard milliseconds, not a lock
 * timeout per retry). Those that fail again are set aside again with a longer backoff.
 */
export async function creditDueSetAside(
  db: Db,
  slice: Pick<QueueSlice, 'shard' | 'shards'>,
  lockTimeoutMs?: number,
  cells?: CellTopology,
): Promise<BatchOutcome> {
  const route = clearingRoute(cells, slice.shards, slice.shard);
  const outcome = emptyOutcome();
  const due = await dueSetAsideClaims(db, slice, SET_ASIDE_RETRIES_PER_PASS);
  if (due.length === 0) return outcome;
  outcome.picked = due.length;
  const done: string[] = [];
  const budgetMs =
    lockTimeoutMs === undefined ? undefined : Math.min(lockTimeoutMs, SET_ASIDE_RETRY_LOCK_WAIT_MS);
  await creditEachAlone(db, due, outcome, done, new LockBudget(budgetMs), route);
  outcome.finished = await markFinished(db, done);
  return outcome;
}

/** Credits each claim alone; sets aside those that fail. */
async function creditEachAlone(
  db: Db,
  claims: CreditableClaim[],
  outcome: BatchOutcome,
  done: string[],
  budget: LockBudget,
  route: ClearingRoute | undefined,
) {
  const recovered = new Set(outcome.recoveredPacketIds);
  for (const claim of claims) {
    const startedMs = performance.now();
    try {
      const one = await creditInOneTransaction(
        db,
        async (tx) => {
          const locked = await lockClaimIfQueued(tx, claim.id);
          return locked ? [locked] : [];
        },
        [],
        budget.timeoutMs(),
        route,
      );
      outcome.credited += one.claims.length;
      outcome.creditedFen += one.creditedFen;
      for (const id of one.recoveredPacketIds) recovered.add(id);
      done.push(...one.done);
    } catch (err) {
      if (!isClaimError(err)) throw err;
      budget.spend(err, performance.now() - startedMs);
      await recordCreditFailure(db, claim, messageOf(err), failedClaimRetryMs);
      outcome.setAside++;
    }
  }
  outcome.recoveredPacketIds = [...recovered];
}
