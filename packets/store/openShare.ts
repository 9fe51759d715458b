/**
 * Open (拆): the one Postgres statement that turns a hold into money owed (open_shares, db/functions/
 * open_shares.sql; open_share is its one-opener form). Under the packet's row lock it checks status and
 * expiry, draws the shares, inserts the claims (unique per packet and user) and decrements what remains. Postgres is the authority here: whatever the Redis gate said,
 * nothing is over-claimed.
 */
import { randomInt as cryptoRandomInt } from 'node:crypto';
import { PgErrorCode, pgErrorCode, type Queryable } from '../../db';
import { drawFrom } from '../../domain/allocation';
import { refusalOf, refuse } from '../access';
import type { PacketRow } from './packets';

export interface OpenedClaim {
  claimId: string;
  packetId: string;
  userId: string;
  seq: number;
  amountFen: number;
  openedAtMs: number;
  credited: boolean;
  /** False when the user had already opened this packet and gets the same claim back. */
  created: boolean;
}

interface ClaimRecord {
  id: string;
  seq: number;
  amount_fen: number;
  created_at: Date;
  credited_at: Date | null;
}

/** The claim id open_share writes (`<packetId>-<seq>`); the traditional design's reference builds the same. */
export const claimIdOf = (packetId: string, seq: number): string => `${packetId}-${seq}`;

/** The user's claim on a packet, if any, read without locks. */
export async function findClaim(
  db: Queryable,
  packetId: string,
  userId: string,
): Promise<OpenedClaim | undefined> {
  const { rows } = await db.query<ClaimRecord>(
    `SELECT id, seq, amount_fen, created_at, credited_at FROM claims
      WHERE day = day_of_id($1) AND packet_id = $1 AND user_id = $2`,
    [packetId, userId],
  );
  const row = rows[0];
  return (
    row && {
      claimId: row.id,
      packetId,
      userId,
      seq: row.seq,
      amountFen: row.amount_fen,
      openedAtMs: row.created_at.getTime(),
      credited: row.credited_at !== null,
      created: false,
    }
  );
}

export interface OpenOptions {
  /** The uniform draw in [0, 1) that decides a random share; from node:crypto unless a test fixes it. */
  draw?: () => number;
}

/** A row of open_share(...) (migration 0008). */
interface OpenShareRow {
  outcome: 'opened' | 'repeat' | 'unknown' | 'refused';
  claim_id: string | null;
  seq: number | null;
  amount_fen: number | null;
  opened_at: Date | null;
  credited: boolean | null;
  claimable: boolean;
  expired: boolean;
  status: PacketRow['status'] | null;
  remaining_count: number | null;
}

/** One opener: open_shares with one-element arrays (open_share, its SQL wrapper, would be planned per call). */
const OPEN_SHARE_SQL =
  'SELECT outcome, claim_id, seq, amount_fen, opened_at, credited, claimable, expired, status, remaining_count FROM open_shares($1, ARRAY[$2::text], ARRAY[$3::float8])';

/**
 * Several opens of one packet in one statement (open_shares, db/functions/open_shares.sql): the packet's row
 * lock is taken once, the openers are served in order (a double tap within the batch is a repeat, the last
 * share goes once), their claims are written by one INSERT and what remains by one UPDATE, and the batch
 * commits once. Rows come back tagged with their opener's position.
 */
const OPEN_SHARES_SQL = 'SELECT * FROM open_shares($1, $2::text[], $3::float8[])';

/** The claim an open_share row answers for this opener, or the refusal every path gives. */
function claimOfRow(packetId: string, userId: string, row: OpenShareRow | undefined): OpenedClaim {
  if (!row || row.outcome === 'unknown') throw refuse.notFound();
  if (row.outcome === 'refused') {
    const answer = refusalOf({
      claimable: row.claimable,
      expired: row.expired,
      status: row.status ?? 'closed',
      remainingCount: row.remaining_count ?? 0,
    });
    if (!answer) throw new Error(`open_share refused an open of ${packetId} that refusalOf would allow`);
    throw answer;
  }
  return {
    claimId: row.claim_id as string,
    packetId,
    userId,
    seq: row.seq as number,
    amountFen: row.amount_fen as number,
    openedAtMs: (row.opened_at as Date).getTime(),
    credited: row.credited === true,
    created: row.outcome === 'opened',
  };
}

/**
 * Opens one share in one round trip: open_share locks the packet row, answers a repeat open with the earlier
 * claim, refuses (unknown or not claimable, expired by Postgres' clock, exhausted), draws the share by the
 * rule of share_from_draw, inserts the claim and decrements what remains. It runs as one autocommitted
 * statement, so the row lock is released inside Postgres and never held while this process is busy.
 * Postgres decides eligibility and expiry whatever Redis said.
 */
export async function openShare(
  db: Queryable,
  packetId: string,
  userId: string,
  options: OpenOptions = {},
): Promise<OpenedClaim> {
  const draw = options.draw ? options.draw() : drawFrom(cryptoRandomInt);
  let row: OpenShareRow | undefined;
  try {
    ({
      rows: [row],
    } = await db.query<OpenShareRow>(OPEN_SHARE_SQL, [packetId, userId, draw]));
  } catch (err) {
    // The row lock serializes a user's double tap, so this is a safety net: the unique constraint let one
    // open in, and the other gets that claim.
    if (pgErrorCode(err) === PgErrorCode.UniqueViolation) {
      const claim = await findClaim(db, packetId, userId);
      if (claim) return claim;
    }
    throw err;
  }
  return claimOfRow(packetId, userId, row);
}

/**
 * Errors one opener's data could cause (bad data, a constraint, an exception raised by the function): the
 * batch is then tried opener by opener. Anything else (a lost connection, a timeout, a cancel) would fail
 * each opener alike, so it fails the batch.
 */
function mayBelongToOneOpener(err: unknown): boolean {
  const code = pgErrorCode(err);
  return code !== undefined && ['22', '23', 'P0'].includes(code.slice(0, 2));
}

/**
 * Opens of one packet by several users in one round trip and one commit (OPEN_SHARES_SQL), each answered as
 * openShare would answer it alone: a claim, or that opener's refusal as an Error in its place. When the
 * statement fails for what one opener's data could cause, every opener is tried alone, one after another,
 * so one opener's failure is never another's; any other failure fails them all.
 */
export async function openShares(
  db: Queryable,
  packetId: string,
  userIds: readonly string[],
  options: OpenOptions = {},
): Promise<(OpenedClaim | Error)[]> {
  if (userIds.length === 1) {
    return [await openShare(db, packetId, userIds[0] as string, options).catch(asError)];
  }
  const draws = userIds.map(() => (options.draw ? options.draw() : drawFrom(cryptoRandomInt)));
  let rows: (OpenShareRow & { position: number })[];
  try {
    ({ rows } = await db.query<OpenShareRow & { position: number }>(OPEN_SHARES_SQL, [
      packetId,
      userIds,
      draws,
    ]));
  } catch (err) {
    if (!mayBelongToOneOpener(err)) throw err;
    // One at a time: the per-packet bound on statements in flight holds on this path too.
    const results: (OpenedClaim | Error)[] = [];
    for (const [i, userId] of userIds.entries()) {
      results.push(await openShare(db, packetId, userId, { draw: () => draws[i] as number }).catch(asError));
    }
    return results;
  }
  const byPosition = new Map(rows.map((row) => [Number(row.position), row]));
  return userIds.map((userId, i) => {
    try {
      return claimOfRow(packetId, userId, byPosition.get(i + 1));
    } catch (err) {
      return asError(err);
    }
  });
}

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));
