/**
 * The packet cell's side of clearing between cells (docs/cells.md): a claim whose recipient is homed in
 * another cell is credited from the packet's escrow into `clearing:<home>:<lane>` and leaves an outbox row,
 * both in the credit transaction; the settle pump (activities/settlePump.ts) delivers the outbox to the home
 * cell and marks rows delivered once it acknowledged them. The SQL of the outbox lives here.
 */
import type { Queryable, Tx } from '../../db';
import { clearingAccount, clearingOwner, escrowAccount, transferIds } from '../../domain/accounts';
import { homeCellOf } from '../../domain/cells';
import type { TransferInput } from '../../ledger/transfers';
import { shardOfHash, SHARD_HASH_SQL, type CreditableClaim } from './credits';

/**
 * Where a credit step stands among the cells: this cell, every cell (home-map order) and its lanes. `lane`
 * is the pump's shard when a pump credits; other paths (settlement, the large-claim credit) leave it out and
 * the lane is the shard of the claim's packet, the same one its pump would have used.
 */
export interface ClearingRoute {
  self: string;
  all: readonly string[];
  lanes: number;
  lane?: number | undefined;
}

/** The cells as a credit step needs them: this one and all (config.cells). */
export type CellTopology = { self: string; all: readonly string[] };

/** The route of a credit step; undefined with one cell, which keeps the credit exactly as it was. */
export function clearingRoute(
  cells: CellTopology | undefined,
  lanes: number,
  lane?: number,
): ClearingRoute | undefined {
  if (!cells || cells.all.length < 2) return undefined;
  return { self: cells.self, all: cells.all, lanes, lane };
}

/** A claim credited into clearing: its home cell, lane and clearing account. */
export interface ClearingLeg {
  claim: CreditableClaim;
  homeCell: string;
  lane: number;
  accountId: string;
}

/** The claims of `claims` whose recipient is homed in another cell; none with one cell (no cost). */
export function remoteClaims(claims: readonly CreditableClaim[], route: ClearingRoute | undefined) {
  if (!route || route.all.length < 2) return [];
  return claims.filter((claim) => homeCellOf(claim.userId, route.all) !== route.self);
}

/** The lane of each packet: its pump shard, read from Postgres' hash (the pump's own expression). */
async function lanesOf(tx: Tx, packetIds: string[], lanes: number): Promise<Map<string, number>> {
  const { rows } = await tx.query<{ id: string; hash: number }>(
    `SELECT id, ${SHARD_HASH_SQL('id')} AS hash FROM unnest($1::text[]) AS id`,
    [[...new Set(packetIds)]],
  );
  return new Map(rows.map((row) => [row.id, shardOfHash(row.hash, lanes)]));
}

/**
 * The legs of remote claims, with their clearing accounts opened (in id order, like wallets). The caller posts
 * their transfers with the local ones (so all accounts are locked in one id-ordered statement) and then
 * writes the outbox rows (`insertOutbox`) in the same transaction.
 */
export async function openClearingLegs(
  tx: Tx,
  remote: readonly CreditableClaim[],
  route: ClearingRoute,
): Promise<ClearingLeg[]> {
  if (remote.length === 0) return [];
  const lanes =
    route.lane === undefined
      ? await lanesOf(
          tx,
          remote.map((claim) => claim.packetId),
          route.lanes,
        )
      : undefined;
  const legs = remote.map((claim) => {
    const homeCell = homeCellOf(claim.userId, route.all);
    const lane = route.lane ?? lanes?.get(claim.packetId);
    // lanesOf answers for every packet it is given: a miss is a bug, never a reason to pick some lane.
    if (lane === undefined) throw new Error(`no clearing lane for packet ${claim.packetId}`);
    return { claim, homeCell, lane, accountId: clearingAccount(homeCell, lane) };
  });
  const owners = [...new Set(legs.map((leg) => clearingOwner(leg.homeCell, leg.lane)))].sort();
  await tx.query(
    `INSERT INTO accounts (id, kind, owner_id)
     SELECT clearing_account(o), 'clearing', o FROM unnest($1::text[]) AS o ORDER BY 1 ON CONFLICT (id) DO NOTHING`,
    [owners],
  );
  return legs;
}

/** The credit transfer of a leg: `credit:<claimId>` from the packet's escrow into clearing. */
export const clearingTransfer = (leg: ClearingLeg): TransferInput => ({
  id: transferIds.credit(leg.claim.id),
  debitAccountId: escrowAccount(leg.claim.packetId),
  creditAccountId: leg.accountId,
  amountFen: leg.claim.amountFen,
  kind: 'credit',
  packetId: leg.claim.packetId,
  claimId: leg.claim.id,
});

/** Writes the outbox rows of legs whose transfers the same transaction just posted. */
export async function insertOutbox(tx: Tx, legs: readonly ClearingLeg[]): Promise<void> {
  if (legs.length === 0) return;
  await tx.query(
    `INSERT INTO xcredit_outbox (claim_id, packet_id, user_id, home_cell, lane, clearing_account_id, amount_fen)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::bigint[])
     ON CONFLICT (claim_id) DO NOTHING`,
    [
      legs.map((leg) => leg.claim.id),
      legs.map((leg) => leg.claim.packetId),
      legs.map((leg) => leg.claim.userId),
      legs.map((leg) => leg.homeCell),
      legs.map((leg) => leg.lane),
      legs.map((leg) => leg.accountId),
      legs.map((leg) => leg.claim.amountFen),
    ],
  );
}

/** One outbox row as the settle pump sends it. */
export interface OutboxItem {
  claimId: string;
  packetId: string;
  userId: string;
  lane: number;
  amountFen: number;
}

/**
 * The next undelivered, unparked rows for `homeCell`, oldest first (the partial index xcredit_outbox_queue),
 * leaving out rows that failed alone until their retry time.
 */
export async function nextOutboxBatch(db: Queryable, homeCell: string, limit: number): Promise<OutboxItem[]> {
  const { rows } = await db.query<OutboxItem>(
    `SELECT claim_id AS "claimId", packet_id AS "packetId", user_id AS "userId", lane, amount_fen AS "amountFen"
     FROM xcredit_outbox WHERE home_cell = $1 AND delivered_at IS NULL AND refused_at IS NULL
       AND (retry_at IS NULL OR retry_at <= clock_timestamp())
     ORDER BY created_at, claim_id LIMIT $2`,
    [homeCell, limit],
  );
  return rows;
}

/** Retrying a row that failed alone: 1 s, doubling, at most 5 minutes apart (as set-aside claims). */
const FAILED_ROW_RETRY_BASE_MS = 1_000;
const FAILED_ROW_RETRY_MAX_MS = 5 * 60_000;

/** Rows whose delivery failed alone at the home cell: counted, retried later with a backoff. */
export async function markFailed(
  db: Queryable,
  failed: readonly { claimId: string; reason: string }[],
): Promise<void> {
  if (failed.length === 0) return;
  await db.query(
    `UPDATE xcredit_outbox o SET attempts = o.attempts + 1, last_error = r.reason,
       retry_at = clock_timestamp() + make_interval(secs => least($3::float8,
         $4::float8 * power(2, least(o.attempts, 20))) / 1000)
     FROM unnest($1::text[], $2::text[]) AS r(claim_id, reason)
     WHERE o.claim_id = r.claim_id AND o.delivered_at IS NULL`,
    [
      failed.map((row) => row.claimId),
      failed.map((row) => row.reason.slice(0, 500)),
      FAILED_ROW_RETRY_MAX_MS,
      FAILED_ROW_RETRY_BASE_MS,
    ],
  );
}

/** Marks rows the home cell acknowledged (applied now or before). */
export async function markDelivered(db: Queryable, claimIds: readonly string[]): Promise<void> {
  if (claimIds.length === 0) return;
  await db.query(
    `UPDATE xcredit_outbox SET delivered_at = clock_timestamp()
     WHERE claim_id = ANY($1::text[]) AND delivered_at IS NULL`,
    [claimIds],
  );
}

/**
 * Parks rows the home cell refused: they are not sent again (a refusal is a disagreement about the money,
 * which a resend cannot fix), so they never hold up the rows behind them; they count in the settle pump's
 * stuck flag and fail the pair audit once old, until an operator resolves them (docs/cells.md).
 */
export async function markRefused(
  db: Queryable,
  refused: readonly { claimId: string; reason: string }[],
): Promise<void> {
  if (refused.length === 0) return;
  await db.query(
    `UPDATE xcredit_outbox o SET refused_at = clock_timestamp(), last_error = r.reason
     FROM unnest($1::text[], $2::text[]) AS r(claim_id, reason)
     WHERE o.claim_id = r.claim_id AND o.delivered_at IS NULL`,
    [refused.map((row) => row.claimId), refused.map((row) => row.reason.slice(0, 500))],
  );
}

/** What waits for `homeCell`: undelivered rows, of which `held` are refused or failing alone. */
export async function outboxBacklog(
  db: Queryable,
  homeCell: string,
): Promise<{ backlog: number; held: number }> {
  const { rows } = await db.query<{ backlog: number; held: number }>(
    `SELECT count(*)::int AS backlog,
            count(*) FILTER (WHERE refused_at IS NOT NULL OR attempts > 0)::int AS held
     FROM xcredit_outbox WHERE home_cell = $1 AND delivered_at IS NULL`,
    [homeCell],
  );
  return rows[0] ?? { backlog: 0, held: 0 };
}

/**
 * What this cell still owes a user homed elsewhere: their opened claims here not yet credited, plus
 * credits into clearing not yet delivered to their home. Asked for by the home cell's balance.
 */
export async function pendingForUser(db: Queryable, userId: string): Promise<number> {
  const { rows } = await db.query<{ pending_fen: number }>(
    `SELECT (SELECT coalesce(sum(amount_fen), 0) FROM claims WHERE user_id = $1 AND credited_at IS NULL)
          + (SELECT coalesce(sum(amount_fen), 0) FROM xcredit_outbox WHERE user_id = $1 AND delivered_at IS NULL)
            AS pending_fen`,
    [userId],
  );
  return Number(rows[0]?.pending_fen ?? 0);
}
