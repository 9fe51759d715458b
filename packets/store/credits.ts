/**
 * SQL of crediting claims: the credit transfer of each claim (escrow to wallet, id `credit:<claimId>`), the
 * pump's queue over uncredited claims, the set-aside list of failing claims, and the "all credited" mark.
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

/** A claim's shard: a stable hash of its packet id, the same expression the NOTIFY trigger sends. */
export const SHARD_HASH_SQL = (packetIdColumn: string) => `(hashtext(${packetIdColumn}) & 2147483647)`;

export interface QueueSlice {
  shard: number;
  shards: number;
  largeMinFen: number;
  limit: number;
}

/**
 * Locks the next uncredited claims of a shard: large ones first (seed 003), then oldest first, leaving out
 * claims set aside until their retry time. SKIP LOCKED: a claim another pump, a settlement or a legacy
 * wave holds is theirs, so the pump never waits on a claim and never takes one twice.
 */
export async function lockQueuedClaims(tx: Tx, slice: QueueSlice): Promise<CreditableClaim[]> {
  const { rows } = await tx.query<CreditableClaim>(
    `SELECT c.id, c.packet_id AS "packetId", c.user_id AS "userId", c.amount_fen AS "amountFen"
     FROM claims c
     WHERE c.credited_at IS NULL AND ${SHARD_HASH_SQL('c.packet_id')} % $2 = $1
       AND NOT EXISTS (SELECT 1 FROM credit_failures f WHERE f.claim_id = c.id AND f.retry_at > clock_timestamp())
     ORDER BY (c.amount_fen >= $3) DESC, c.created_at, c.id
     LIMIT $4
     FOR UPDATE OF c SKIP LOCKED`,
    [slice.shard, slice.shards, slice.largeMinFen, slice.limit],
  );
  return rows;
}

/** One claim by id, locked, if it is still uncredited and nobody else holds it (isolating a failure). */
export async function lockClaimIfQueued(tx: Tx, claimId: string): Promise<CreditableClaim | undefined> {
  const { rows } = await tx.query<CreditableClaim>(
    `SELECT id, packet_id AS "packetId", user_id AS "userId", amount_fen AS "amountFen"
     FROM claims WHERE id = $1 AND credited_at IS NULL FOR UPDATE SKIP LOCKED`,
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

/** Packets among these whose every share is claimed and credited (a plain read: no packet row lock). */
export async function fullyCreditedPackets(tx: Queryable, packetIds: readonly string[]): Promise<string[]> {
  if (packetIds.length === 0) return [];
  const { rows } = await tx.query<{ id: string }>(
    `SELECT p.id FROM packets p
     WHERE p.id = ANY($1::text[]) AND p.status = 'open' AND p.remaining_count = 0
       AND NOT EXISTS (SELECT 1 FROM claims c WHERE c.packet_id = p.id AND c.credited_at IS NULL)`,
    [packetIds],
  );
  return rows.map((row) => row.id);
}

/**
 * Marks fully credited packets finished (refund 0), in its own statement after the credit committed. It
 * only takes packet rows, in id order, and holds no claim or account lock, so waiting for a row keeps the
 * lock order: it waits out an open's statement or a settlement (which, having finished the packet, leaves
 * nothing to mark). It must wait rather than skip: a skipped packet was never marked again, so its workflow
 * heard "all credited" only at expiry (a late open on an exhausted packet holds the row for a moment).
 */
export async function markFinished(
  db: Queryable,
  packetIds: readonly string[],
): Promise<{ id: string; shareCount: number }[]> {
  if (packetIds.length === 0) return [];
  const { rows } = await db.query<{ id: string; shareCount: number }>(
    `WITH held AS (
       SELECT id FROM packets WHERE id = ANY($1::text[]) AND status = 'open' AND remaining_count = 0
       ORDER BY id FOR UPDATE
     )
     UPDATE packets p SET status = 'finished', refund_fen = 0, closed_at = now()
     FROM held WHERE p.id = held.id
       AND NOT EXISTS (SELECT 1 FROM claims c WHERE c.packet_id = p.id AND c.credited_at IS NULL)
     RETURNING p.id, p.share_count AS "shareCount"`,
    [packetIds],
  );
  return rows;
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
       AND ${SHARD_HASH_SQL('packet_id')} % $2 = $1`,
    [slice.shard, slice.shards, stuckAfterMs],
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
    `SELECT count(*)::int AS n FROM claims WHERE credited_at IS NULL AND ${SHARD_HASH_SQL('packet_id')} % $2 = $1`,
    [slice.shard, slice.shards],
  );
  return rows[0]?.n ?? 0;
}
