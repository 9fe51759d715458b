/**
 * SQL of the credit pump's set-aside list (docs/credit-pump.md, poison claims): a claim whose credit failed is
 * set aside with its error and a retry time, and its packet's workflow is told once it has been failing past
 * CREDIT_STUCK_AFTER_MS. Split from store/credits.ts, which keeps the queue and the credit itself.
 */
import type { Queryable } from '../../db';
import {
  IN_SHARD_SQL,
  SHARD_HASH_SQL,
  shardHashRange,
  type CreditableClaim,
  type QueueSlice,
} from './credits';

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
     FROM claims c WHERE c.day = day_of_id($1) AND c.id = $1 AND c.credited_at IS NULL
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
     FROM credit_failures f JOIN claims c ON c.day = day_of_id($1) AND c.id = f.claim_id
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

/** Which set-aside claims a retry-now request names: a shard's, or one packet's (which must be in it). */
export interface RetryScope {
  shard: number;
  shards: number;
  packetId: string | null;
}

const IN_RETRY_SCOPE_SQL = `${IN_SHARD_SQL('f.packet_id', '$1', '$2')} AND ($3::text IS NULL OR f.packet_id = $3)`;
const scopeParams = (scope: RetryScope) => [...shardHashRange(scope), scope.packetId];

/**
 * Makes the scope's set-aside claims due now (retry-now, saga/retryNow.ts) and starts their backoff over, so
 * that a claim that fails again soon is tried again in seconds, not minutes. Rows are locked in claim order,
 * the order any other multi-row writer meets them in. Returns how many, and the time written as their retry
 * time (Postgres' text form, exact to the microsecond): a row whose retry time is later has failed again
 * since.
 */
export async function makeSetAsideDue(
  db: Queryable,
  scope: RetryScope,
): Promise<{ madeDue: number; dueAt: string }> {
  const { rows } = await db.query<{ n: number; due_at: string }>(
    `WITH t AS (SELECT clock_timestamp() AS at),
     due AS (SELECT f.claim_id FROM credit_failures f WHERE ${IN_RETRY_SCOPE_SQL} ORDER BY f.claim_id FOR UPDATE),
     made AS (UPDATE credit_failures f SET retry_at = t.at, attempts = 1 FROM due, t
              WHERE f.claim_id = due.claim_id RETURNING f.claim_id)
     SELECT (SELECT count(*)::int FROM made) AS n, (SELECT at FROM t)::text AS due_at`,
    scopeParams(scope),
  );
  const row = rows[0];
  if (!row) throw new Error('makeSetAsideDue returned no row');
  return { madeDue: row.n, dueAt: row.due_at };
}

/**
 * The scope's claims made due at `dueAt`, as the set-aside list shows them now: still due (not tried yet),
 * failed again (their retry time moved past `dueAt`) with the latest error; the rest were credited, which
 * deleted their rows. Claims first set aside after `dueAt` are not counted.
 */
export async function setAsideSince(
  db: Queryable,
  scope: RetryScope,
  dueAt: string,
): Promise<{ stillDue: number; failedAgain: number; lastError: string | null }> {
  const { rows } = await db.query<{ still_due: number; failed_again: number; last_error: string | null }>(
    `SELECT count(*) FILTER (WHERE f.retry_at <= $4::timestamptz)::int AS still_due,
       count(*) FILTER (WHERE f.retry_at > $4::timestamptz)::int AS failed_again,
       (array_agg(f.last_error ORDER BY f.retry_at DESC) FILTER (WHERE f.retry_at > $4::timestamptz))[1] AS last_error
     FROM credit_failures f WHERE ${IN_RETRY_SCOPE_SQL} AND f.first_failed_at <= $4::timestamptz`,
    [...scopeParams(scope), dueAt],
  );
  const row = rows[0];
  return {
    stillDue: row?.still_due ?? 0,
    failedAgain: row?.failed_again ?? 0,
    lastError: row?.last_error ?? null,
  };
}

/** A packet's shard hash (the NOTIFY trigger's), or undefined when this cell's database has no such packet. */
export async function packetShardHash(db: Queryable, packetId: string): Promise<number | undefined> {
  const { rows } = await db.query<{ h: number }>(
    `SELECT ${SHARD_HASH_SQL('p.id')} AS h FROM packets p WHERE p.day = day_of_id($1) AND p.id = $1`,
    [packetId],
  );
  return rows[0]?.h;
}
