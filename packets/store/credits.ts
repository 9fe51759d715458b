/**
 * SQL of crediting claims: the credit transfer of each claim (escrow to wallet, id `credit:<claimId>`), the
 * pump's queue over uncredited claims, the set-aside list of failing claims, and the "finished" mark.
 * Lock order everywhere: packet row, then claims, then ledger accounts in id order. The pump's credit
 * transaction never locks packet rows; settlement locks the packet row first, then its claims.
 */
import type { Queryable, Tx } from '../../db';
import { escrowAccount, transferIds, walletAccount } from '../../domain/accounts';
import { sumFen } from '../../domain/money';
import { ensureWallets, postTransfers } from '../../ledger/transfers';
import {
  clearingTransfer,
  insertOutbox,
  openClearingLegs,
  remoteClaims,
  type ClearingRoute,
} from './clearing';
import { settledAssignment } from './packets';

/** The uncredited claims a credit step works on (any packets). */
export interface CreditableClaim {
  id: string;
  packetId: string;
  userId: string;
  amountFen: number;
}

/** A claim's shard hash: a stable hash of its packet id, the same expression the NOTIFY trigger sends. */
export const SHARD_HASH_SQL = (packetIdColumn: string) => `(hashtext(${packetIdColumn}) & 2147483647)`;

/** Shard hashes are 0 .. 2^31 - 1. */
const SHARD_HASH_SPACE = 2 ** 31;

/**
 * A shard owns one of `shards` equal ranges of the hash space. Ranges rather than `hash % shards`: Postgres
 * estimates a range over the hash from its statistics (migration 0010), but guesses half a percent for any
 * `% n = k`, and with that guess it sorted every large claim of the backlog instead of walking the index.
 */
export function shardOfHash(hash: number, shards: number): number {
  return Math.floor((hash * shards) / SHARD_HASH_SPACE);
}

/** The hashes of a shard: lo to hi inclusive (hi fits an int4: 2^31 - 1 at most), the inverse of shardOfHash. */
export function shardHashRange(slice: Pick<QueueSlice, 'shard' | 'shards'>): [number, number] {
  const first = (shard: number) => Math.ceil((shard * SHARD_HASH_SPACE) / slice.shards);
  return [first(slice.shard), first(slice.shard + 1) - 1];
}

/** `packetIdColumn`'s shard is the one whose hashes are $lo to $hi (parameter numbers given). */
export const IN_SHARD_SQL = (packetIdColumn: string, lo: string, hi: string) =>
  `${SHARD_HASH_SQL(packetIdColumn)} BETWEEN ${lo} AND ${hi}`;

export interface QueueSlice {
  shard: number;
  shards: number;
  largeMinFen: number;
  limit: number;
  /** Days back from today (UTC) whose partitions can hold queued claims; QUEUE_DAYS_DEFAULT when absent. */
  queueDays?: number;
}

/** The default packet life (7 days) plus two: CreditSettings.queueDays says why. */
export const QUEUE_DAYS_DEFAULT = 9;

/**
 * The days whose claims a batch reads ($5 to $6, from queueDayBounds): the last few up to tomorrow (a clock a
 * little ahead), where uncredited claims can be, and the legacy day of ids without a date. Older days are
 * credited and later ones empty, so their partitions are never read. The bounds are parameters, not
 * expressions of now(), so that Postgres prunes the other days when it plans: with now() it planned a scan
 * of every day's partition and pruned them only at executor start, a cost that grew with every day kept
 * (bench/dayTables/scale.sh: 2.1 ms a batch read at 3 days, 3.4 ms at 90).
 */
const IN_QUEUE_DAYS_SQL = (dayColumn: string, oldest: string, newest: string) =>
  `(${dayColumn} BETWEEN ${oldest}::date AND ${newest}::date OR ${dayColumn} = date '1970-01-01')`;

const isoDayOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/** The queue's days, oldest and newest (YYYY-MM-DD, UTC), for $5 and $6 of QUEUED_CLAIM_SQL. */
export const queueDayBounds = (
  queueDays: number = QUEUE_DAYS_DEFAULT,
  nowMs: number = Date.now(),
): [string, string] => [isoDayOf(nowMs - queueDays * 86_400_000), isoDayOf(nowMs + 86_400_000)];

const CLAIM_COLUMNS = 'c.id, c.packet_id AS "packetId", c.user_id AS "userId", c.amount_fen AS "amountFen"';

/** Uncredited claims of the shard (hashes $1 to $2) that were never set aside: the batch's candidates. */
export const QUEUED_CLAIM_SQL = `c.credited_at IS NULL AND ${IN_QUEUE_DAYS_SQL('c.day', '$5', '$6')}
  AND ${IN_SHARD_SQL('c.packet_id', '$1', '$2')}
  AND NOT EXISTS (SELECT 1 FROM credit_failures f WHERE f.claim_id = c.id)`;

/**
 * Locks the next uncredited claims of a shard: large ones first (seed 003; the largest first), then the
 * oldest. Each half is a top-N read down an index in its ORDER BY (migrations 0007 and 0010), so a batch
 * costs the same with ten claims waiting or a million; the outer LIMIT pulls from the second half only what
 * the first left room for, and locks no more. Claims set aside after a failure are left to
 * `dueSetAsideClaims`, so a claim known to fail never holds up a batch again. SKIP LOCKED: a claim another
 * pump, a settlement or a legacy wave holds is theirs, so the pump never waits on a claim and never takes
 * one twice.
 */
export async function lockQueuedClaims(tx: Tx, slice: QueueSlice): Promise<CreditableClaim[]> {
  const { rows } = await tx.query<CreditableClaim>(
    `SELECT * FROM (
       SELECT * FROM (
         SELECT ${CLAIM_COLUMNS} FROM claims c WHERE ${QUEUED_CLAIM_SQL} AND c.amount_fen >= $3
         ORDER BY c.amount_fen DESC, c.created_at, c.id LIMIT $4 FOR UPDATE OF c SKIP LOCKED) large
       UNION ALL
       SELECT * FROM (
         SELECT ${CLAIM_COLUMNS} FROM claims c WHERE ${QUEUED_CLAIM_SQL} AND c.amount_fen < $3
         ORDER BY c.created_at, c.id LIMIT $4 FOR UPDATE OF c SKIP LOCKED) rest
     ) queue LIMIT $4`,
    [...shardHashRange(slice), slice.largeMinFen, slice.limit, ...queueDayBounds(slice.queueDays)],
  );
  return rows;
}

/** Set-aside claims of a shard whose retry time has come, the longest due first (not locked). */
export async function dueSetAsideClaims(
  db: Queryable,
  slice: Pick<QueueSlice, 'shard' | 'shards'>,
  limit: number,
): Promise<CreditableClaim[]> {
  const { rows } = await db.query<CreditableClaim>(
    `SELECT ${CLAIM_COLUMNS} FROM credit_failures f JOIN claims c ON c.day = day_of_id(f.claim_id) AND c.id = f.claim_id
     WHERE f.retry_at <= clock_timestamp() AND c.credited_at IS NULL
       AND ${IN_SHARD_SQL('f.packet_id', '$1', '$2')}
     ORDER BY f.retry_at LIMIT $3`,
    [...shardHashRange(slice), limit],
  );
  return rows;
}

/** One claim by id, locked, if it is still uncredited and nobody else holds it (isolating a failure). */
export async function lockClaimIfQueued(tx: Tx, claimId: string): Promise<CreditableClaim | undefined> {
  const { rows } = await tx.query<CreditableClaim>(
    `SELECT ${CLAIM_COLUMNS} FROM claims c
      WHERE c.day = day_of_id($1) AND c.id = $1 AND c.credited_at IS NULL FOR UPDATE SKIP LOCKED`,
    [claimId],
  );
  return rows[0];
}

/**
 * Credits claims the caller has locked: opens missing wallets, posts one transfer per claim (idempotent by
 * id; accounts are locked in id order inside postTransfers), marks the claims credited and forgets their
 * earlier failures. With several cells (`route`), a claim whose recipient is homed elsewhere is credited into
 * that cell's clearing account instead, and its outbox row is written here too (store/clearing.ts), so the
 * credit, the mark and the message commit together. Returns the credited amount and the packets whose
 * failures were reported as stuck.
 */
export async function creditLockedClaims(
  tx: Tx,
  claims: readonly CreditableClaim[],
  route?: ClearingRoute,
): Promise<{ creditedFen: number; recoveredPacketIds: string[] }> {
  if (claims.length === 0) return { creditedFen: 0, recoveredPacketIds: [] };
  const remote = remoteClaims(claims, route);
  const remoteSet = remote.length === 0 ? undefined : new Set(remote);
  const local = remoteSet ? claims.filter((claim) => !remoteSet.has(claim)) : claims;
  await ensureWallets(
    tx,
    local.map((claim) => claim.userId),
  );
  const legs = route ? await openClearingLegs(tx, remote, route) : [];
  await postTransfers(tx, [
    ...local.map((claim) => ({
      id: transferIds.credit(claim.id),
      debitAccountId: escrowAccount(claim.packetId),
      creditAccountId: walletAccount(claim.userId),
      amountFen: claim.amountFen,
      kind: 'credit' as const,
      packetId: claim.packetId,
      claimId: claim.id,
    })),
    ...legs.map(clearingTransfer),
  ]);
  await insertOutbox(tx, legs);
  const ids = claims.map((claim) => claim.id);
  // One round trip: mark credited and drop the set-aside rows of claims that finally went through.
  const { rows } = await tx.query<{ packet_id: string; reported_at: Date | null }>(
    'SELECT packet_id, reported_at FROM mark_claims_credited($1::text[])',
    [ids],
  );
  const recovered = new Set<string>();
  for (const row of rows) if (row.reported_at !== null) recovered.add(row.packet_id);
  return { creditedFen: sumFen(claims.map((claim) => claim.amountFen)), recoveredPacketIds: [...recovered] };
}

/**
 * A packet whose claim set is final: every share claimed while it is open, or closed by settlement (refund
 * posted, claims still owed). The same predicate as the partial index packets_awaiting_credit (0011).
 */
const CLAIMS_FINAL_SQL = `(p.status = 'closed' OR (p.status = 'open' AND p.remaining_count = 0))`;
const NOTHING_OWED_SQL = `NOT EXISTS (
  SELECT 1 FROM claims c WHERE c.day = p.day AND c.packet_id = p.id AND c.credited_at IS NULL)`;

/** A packet a credit step finished; `wasClosed`: settlement had closed it, so its workflow awaits the news. */
export interface FinishedPacket {
  id: string;
  shareCount: number;
  wasClosed: boolean;
}

/**
 * Finishes the held packets that owe nothing: an open one with refund 0 (every share claimed and credited),
 * a closed one keeping the refund settlement recorded. The "nothing owed" test runs again under the row lock
 * with this statement's snapshot, taken after the caller's credit committed. The held rows' days bound the
 * update (docs/day-tables.md): Postgres prunes the days outside them once the bounds are known, whichever
 * way it joins, so the update reads the held days' partitions only (one, unless a batch spans midnight).
 */
async function finishHeld(db: Queryable, heldSql: string, params: unknown[]): Promise<FinishedPacket[]> {
  const { rows } = await db.query<FinishedPacket>(
    `WITH held AS (${heldSql})
     UPDATE packets p SET ${settledAssignment("'finished'", 'coalesce(refund_fen, 0)')}
     FROM held WHERE p.day BETWEEN (SELECT min(day) FROM held) AND (SELECT max(day) FROM held)
       AND p.day = held.day AND p.id = held.id AND ${NOTHING_OWED_SQL}
     RETURNING p.id, p.share_count AS "shareCount", held.status = 'closed' AS "wasClosed"`,
    params,
  );
  return rows;
}

/**
 * Marks finished the packets among these whose claims are final and all credited, in its own statement
 * after the credit committed. Callers pass every packet they credited a claim of, not only those their own
 * transaction saw complete: two pump attempts crediting the last two claims of one packet each see the
 * other's claim uncredited, but the mark of whichever committed last runs after both commits and sees both.
 * It only takes packet rows, in id order, and holds no claim or account lock, so waiting for a row keeps the
 * lock order: it waits out an open's statement or a settlement. It must wait rather than skip, so the mark
 * is made now; a mark lost anyway (the statement failed after the credit committed) is found again by
 * finishAwaitingPackets.
 */
export async function markFinished(db: Queryable, packetIds: readonly string[]): Promise<FinishedPacket[]> {
  if (packetIds.length === 0) return [];
  return finishHeld(
    db,
    // Each id is looked up and locked in its own day (the LATERAL subquery runs once per id: one partition
    // each); the ids come sorted, so rows are locked in id order.
    `SELECT p.day, p.id, p.status FROM (SELECT DISTINCT unnest($1::text[]) ORDER BY 1) AS k(id)
       CROSS JOIN LATERAL (SELECT p.day, p.id, p.status FROM packets p
                            WHERE p.day = day_of_id(k.id) AND p.id = k.id AND ${CLAIMS_FINAL_SQL}
                            FOR UPDATE) AS p`,
    [packetIds],
  );
}

/**
 * The catch-all behind markFinished: finishes up to `limit` packets of a shard whose claims are final and
 * all credited but that nobody marked (a mark that failed after its credit committed, a last claim credited
 * by the open path's large-claim credit, a settlement that read a claim the pump was committing). It reads
 * the partial index packets_awaiting_credit, which holds only packets waiting for credits, and skips rows
 * another statement holds: they are found on the next look.
 */
export async function finishAwaitingPackets(
  db: Queryable,
  slice: Pick<QueueSlice, 'shard' | 'shards'>,
  limit: number,
): Promise<FinishedPacket[]> {
  return finishHeld(
    db,
    `SELECT p.day, p.id, p.status FROM packets p
     WHERE ${CLAIMS_FINAL_SQL} AND ${IN_SHARD_SQL('p.id', '$1', '$2')} AND ${NOTHING_OWED_SQL}
     ORDER BY p.id LIMIT $3 FOR UPDATE SKIP LOCKED`,
    [...shardHashRange(slice), limit],
  );
}

/** Uncredited claims of a shard: the pump's backlog, published when it is stuck. */
export async function shardBacklog(
  db: Queryable,
  slice: Pick<QueueSlice, 'shard' | 'shards'>,
): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM claims WHERE credited_at IS NULL AND ${IN_SHARD_SQL('packet_id', '$1', '$2')}`,
    shardHashRange(slice),
  );
  return rows[0]?.n ?? 0;
}
