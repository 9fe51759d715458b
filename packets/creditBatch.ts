/**
 * One step of a credit pump: credit the next batch of a shard's claims in one transaction. When the batch
 * fails because of one of its claims (a constraint, a poison row), each claim is retried alone and the
 * failing ones are set aside with their error and a backoff, so the rest of the batch commits now and one
 * bad claim never blocks the shard. Failures of Postgres itself (connection, shutdown) are thrown: then
 * nothing can be credited, and the pump's workflow reports that.
 */
import { pgErrorCode, type Db, type Tx } from '../db';
import { isDomainError } from '../domain/errors';
import {
  creditLockedClaims,
  lockClaimIfQueued,
  lockQueuedClaims,
  markFinished,
  recordCreditFailure,
  type CreditableClaim,
  type FinishedPacket,
  type QueueSlice,
} from './store/credits';

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
 * resources, 57 operator intervention (shutdown, statement timeout), 40 transaction rollback. */
const SERVER_CLASSES = new Set(['08', '40', '53', '57', '58', 'XX']);

/** True when the error belongs to the rows being credited, so isolating them can help. */
export function isClaimError(err: unknown): boolean {
  if (isDomainError(err)) return true;
  const code = pgErrorCode(err);
  return code !== undefined && !SERVER_CLASSES.has(code.slice(0, 2));
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

async function creditInOneTransaction(
  db: Db,
  pick: (tx: Tx) => Promise<CreditableClaim[]>,
  picked: CreditableClaim[],
) {
  return db.withTransaction(async (tx) => {
    const claims = await pick(tx);
    picked.push(...claims);
    const { creditedFen, recoveredPacketIds } = await creditLockedClaims(tx, claims);
    // Every packet credited here is a candidate for the mark after commit: a check inside this transaction
    // cannot see a claim of the same packet that another pump attempt is committing at the same moment.
    const done = [...new Set(claims.map((claim) => claim.packetId))];
    return { claims, creditedFen, recoveredPacketIds, done };
  });
}

export async function creditNextBatch(db: Db, slice: QueueSlice): Promise<BatchOutcome> {
  const picked: CreditableClaim[] = [];
  const outcome: BatchOutcome = {
    picked: 0,
    credited: 0,
    creditedFen: 0,
    setAside: 0,
    finished: [],
    recoveredPacketIds: [],
  };
  const done: string[] = [];
  try {
    const batch = await creditInOneTransaction(db, (tx) => lockQueuedClaims(tx, slice), picked);
    outcome.picked = outcome.credited = batch.claims.length;
    outcome.creditedFen = batch.creditedFen;
    outcome.recoveredPacketIds = batch.recoveredPacketIds;
    done.push(...batch.done);
  } catch (err) {
    if (!isClaimError(err) || picked.length === 0) throw err;
    outcome.picked = picked.length;
    await isolate(db, picked, outcome, done);
  }
  outcome.finished = await markFinished(db, done);
  return outcome;
}

/** Credits each claim of a failed batch alone; sets aside those that fail again. */
async function isolate(db: Db, claims: CreditableClaim[], outcome: BatchOutcome, done: string[]) {
  const recovered = new Set<string>();
  for (const claim of claims) {
    try {
      const one = await creditInOneTransaction(
        db,
        async (tx) => {
          const locked = await lockClaimIfQueued(tx, claim.id);
          return locked ? [locked] : [];
        },
        [],
      );
      outcome.credited += one.claims.length;
      outcome.creditedFen += one.creditedFen;
      for (const id of one.recoveredPacketIds) recovered.add(id);
      done.push(...one.done);
    } catch (err) {
      if (!isClaimError(err)) throw err;
      await recordCreditFailure(db, claim, messageOf(err), failedClaimRetryMs);
      outcome.setAside++;
    }
  }
  outcome.recoveredPacketIds = [...recovered];
}
