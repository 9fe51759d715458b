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
const IN_SHARD_SQL = (packetIdColumn: string, lo: string, hi: string) =>
  `${SHARD_HASH_SQL(packetIdColumn)} BETWEEN ${lo} AND ${hi}`;

export interface QueueSlice {
  shard: number;
  shards: number;
  largeMinFen: number;
  limit: number;
}

const CLAIM_COLUMNS = 'c.id, c.packet_id AS "packetId", c.user_id AS "userId", c.amount_fen AS "amountFen"';

/** Uncredited claims of the shard (hashes $1 to $2) that were never set aside: the batch's candidates. */
const QUEUED_CLAIM_SQL = `c.credited_at IS NULL AND ${IN_SHARD_SQL('c.packet_id', '$1', '$2')}
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
    [...shardHashRange(slice), slice.largeMinFen, slice.limit],
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
    `SELECT ${CLAIM_COLUMNS} FROM credit_failures f JOIN claims c ON c.id = f.claim_id
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
    `SELECT ${CLAIM_COLUMNS} FROM claims c WHERE c.id = $1 AND c.credited_at IS NULL FOR UPDATE SKIP LOCKED`,
    [claimId],
  );
  return rows[0];
}

/**
 * Credits claims the caller has locked: opens missing wallets, posts one transfer per claim (idempotent by
 * id; accounts are locked in id order inside postTransfers), marks the claims credited and forgets their
 * earlier failures. Returns the credited amount and the packets whose failures were reported as stuck.
 */
export async function creditLockedClaims(
  tx: Tx,
  claims: readonly CreditableClaim[],
): Promise<{ creditedFen: number; recoveredPacketIds: string[] }> {
  if (claims.length === 0) return { creditedFen: 0, recoveredPacketIds: [] };
  await ensureWallets(
    tx,
    claims.map((claim) => claim.userId),
  );
  await postTransfers(
    tx,
    claims.map((claim) => ({
      id: transferIds.credit(claim.id),
      debitAccountId: escrowAccount(claim.packetId),
      creditAccountId: walletAccount(claim.userId),
      amountFen: claim.amountFen,
      kind: 'credit' as const,
      packetId: claim.packetId,
      claimId: claim.id,
    })),
  );
  const ids = claims.map((claim) => claim.id);
  // One round trip: mark credited and drop the set-aside rows of claims that finally went through.
  const { rows } = await tx.query<{ packet_id: string; reported_at: Date | null }>(
    `WITH credited AS (UPDATE claims SET credited_at = clock_timestamp() WHERE id = ANY($1::text[]))
     DELETE FROM credit_failures WHERE claim_id = ANY($1::text[]) RETURNING packet_id, reported_at`,
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
const NOTHING_OWED_SQL = `NOT EXISTS (SELECT 1 FROM claims c WHERE c.packet_id = p.id AND c.credited_at IS NULL)`;

/** A packet a credit step finished; `wasClosed`: settlement had closed it, so its workflow awaits the news. */
export interface FinishedPacket {
  id: string;
  shareCount: number;
  wasClosed: boolean;
}

/**
 * Finishes the held packets that owe nothing: an open one with refund 0 (every share claimed and credited),
 * a closed one keeping the refund settlement recorded. The "nothing owed" test runs again under the row lock
 * with this statement's snapshot, taken after the caller's credit committed.
 */
async function finishHeld(db: Queryable, heldSql: string, params: unknown[]): Promise<FinishedPacket[]> {
  const { rows } = await db.query<FinishedPacket>(
    `WITH held AS (${heldSql})
     UPDATE packets p SET status = 'finished', refund_fen = coalesce(p.refund_fen, 0),
       closed_at = coalesce(p.closed_at, now())
     FROM held WHERE p.id = held.id AND ${NOTHING_OWED_SQL}
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
    `SELECT p.id, p.status FROM packets p WHERE p.id = ANY($1::text[]) AND ${CLAIMS_FINAL_SQL}
     ORDER BY p.id FOR UPDATE`,
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
    `SELECT p.id, p.status FROM packets p
     WHERE ${CLAIMS_FINAL_SQL} AND ${IN_SHARD_SQL('p.id', '$1', '$2')} AND ${NOTHING_OWED_SQL}
     ORDER BY p.id LIMIT $3 FOR UPDATE SKIP LOCKED`,
    [...shardHashRange(slice), limit],
  );
}

/**
 * Sets a claim aside after a failed credit: counts the attempt and schedules the next one. Only while the claim
 * is uncredited, checked in the same statement as the write: another path (settlement, the large-claim
 * credit, another pump attempt) may have credited it since this attempt failed, and the credit deletes only
 * the rows that exist when it commits, so a row written after it would stay for good and keep its packet
 * CreditStuck. The claim row is locked for the check (SKIP LOCKED: a transaction holding it is crediting or
 * settling it, and a failure there is recorded by whoever fails next), so a credit committing meanwhile is
 * seen.
 */
export async function recordCreditFailure(
  db: Queryable,
  claim: CreditableClaim,
  message: string,
  retryAfterMs: (attempts: number) => number,
): Promise<void> {
  const { rows } = await db.query<{ attempts: number }>(
    'SELECT attempts FROM credit_failures WHERE claim_id = $1',
    [claim.id],
  );
  const attempts = (rows[0]?.attempts ?? 0) + 1;
  await db.query(
    `INSERT INTO credit_failures (claim_id, packet_id, attempts, last_error, retry_at)
     SELECT c.id, c.packet_id, $2, $3, clock_timestamp() + make_interval(secs => $4::float8 / 1000)
     FROM claims c WHERE c.id = $1 AND c.credited_at IS NULL
     FOR UPDATE OF c SKIP LOCKED
     ON CONFLICT (claim_id) DO UPDATE SET attempts = EXCLUDED.attempts, last_error = EXCLUDED.last_error,
       retry_at = EXCLUDED.retry_at`,
    [claim.id, attempts, message.slice(0, 500), retryAfterMs(attempts)],
  );
}

/** One stuck credit, as the packet's workflow lists it. */
export interface StuckClaimRow {
  claimId: string;
  packetId: string;
  userId: string;
  amountFen: number;
  sinceMs: number;
  lastError: string;
}

/** Packets of a shard with a claim failing for longer than the threshold that its workflow has not heard of. */
export async function newlyStuckPackets(
  db: Queryable,
  slice: Pick<QueueSlice, 'shard' | 'shards'>,
  stuckAfterMs: number,
): Promise<string[]> {
  const { rows } = await db.query<{ packet_id: string }>(
    `SELECT DISTINCT packet_id FROM credit_failures
     WHERE reported_at IS NULL AND first_failed_at <= clock_timestamp() - make_interval(secs => $3::float8 / 1000)
       AND ${IN_SHARD_SQL('packet_id', '$1', '$2')}`,
    [...shardHashRange(slice), stuckAfterMs],
  );
  return rows.map((row) => row.packet_id);
}

/**
 * A packet's stuck credits (failing longer than the threshold). Read only: they are marked reported by
 * markStuckReported once its workflow has them, so a lost signal is sent again at the next check.
 */
export async function stuckClaimsOf(
  db: Queryable,
  packetId: string,
  stuckAfterMs: number,
): Promise<StuckClaimRow[]> {
  const { rows } = await db.query<StuckClaimRow & { sinceMs: number | string }>(
    `SELECT f.claim_id AS "claimId", f.packet_id AS "packetId", c.user_id AS "userId",
       c.amount_fen AS "amountFen", (extract(epoch FROM f.first_failed_at) * 1000)::float8 AS "sinceMs",
       f.last_error AS "lastError"
     FROM credit_failures f JOIN claims c ON c.id = f.claim_id
     WHERE f.packet_id = $1
       AND f.first_failed_at <= clock_timestamp() - make_interval(secs => $2::float8 / 1000)`,
    [packetId, stuckAfterMs],
  );
  return rows.map((row) => ({ ...row, sinceMs: Math.round(Number(row.sinceMs)) }));
}

/** Marks these stuck credits of a packet reported, after its workflow was told of them. */
export async function markStuckReported(
  db: Queryable,
  packetId: string,
  claimIds: readonly string[],
): Promise<void> {
  if (claimIds.length === 0) return;
  await db.query(
    `UPDATE credit_failures SET reported_at = coalesce(reported_at, clock_timestamp())
     WHERE packet_id = $1 AND claim_id = ANY($2::text[])`,
    [packetId, claimIds],
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
