/**
 * Open (拆): the one Postgres transaction that turns a hold into money owed. Under the packet's row lock it
 * checks status and expiry, draws the share, inserts the claim (unique per packet and user) and decrements
 * what remains. Postgres is the authority here: whatever the Redis gate said, nothing is over-claimed.
 */
import { randomInt as cryptoRandomInt } from 'node:crypto';
import { PgErrorCode, pgErrorCode, type Db, type Queryable } from '../db';
import { drawShareFen, type RandomInt } from '../domain/allocation';
import { DomainError, ErrorCode } from '../domain/errors';
import { refusalOf } from './access';
import { PACKET_COLUMNS, type PacketRow } from './store';

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

export const claimIdOf = (packetId: string, seq: number): string => `${packetId}-${seq}`;

/** A claim row as the caller first reads it (row_to_json leaves timestamps as strings). */
function claimFromJson(
  packetId: string,
  userId: string,
  row: Omit<ClaimRecord, 'created_at' | 'credited_at'> & {
    created_at: Date | string;
    credited_at: Date | string | null;
  },
): OpenedClaim {
  return {
    claimId: row.id,
    packetId,
    userId,
    seq: row.seq,
    amountFen: row.amount_fen,
    openedAtMs: new Date(row.created_at).getTime(),
    credited: row.credited_at !== null,
    created: false,
  };
}

/** The user's claim on a packet, if any, read without locks. */
export async function findClaim(
  db: Queryable,
  packetId: string,
  userId: string,
): Promise<OpenedClaim | undefined> {
  const { rows } = await db.query<ClaimRecord>(
    'SELECT id, seq, amount_fen, created_at, credited_at FROM claims WHERE packet_id = $1 AND user_id = $2',
    [packetId, userId],
  );
  return rows[0] && claimFromJson(packetId, userId, rows[0]);
}

export interface OpenOptions {
  randomInt?: RandomInt;
  /** Counts transactions that reached Postgres (tests and metrics). */
  onTransaction?: () => void;
}

type LockedPacket = PacketRow & { claimable: boolean; expired: boolean; raced: ClaimRecord | null };

export async function openShare(
  db: Db,
  packetId: string,
  userId: string,
  options: OpenOptions = {},
): Promise<OpenedClaim> {
  const randomInt = options.randomInt ?? cryptoRandomInt;
  try {
    options.onTransaction?.();
    // The packet's row lock is held from the first statement to COMMIT, so the transaction is three round
    // trips: lock and read (with this user's claim, for a repeat open), write the claim and the packet in one
    // guarded statement, commit. A double tap that committed while we waited for the lock is not in that read
    // (its claim subquery keeps the statement's first snapshot): when it took a share that is still left, the
    // unique constraint below answers it; when it took the last one, the refusal re-reads the claim.
    // Postgres decides eligibility (packet_claimable) and expiry (its own clock) whatever Redis said.
    return await db.withTransaction(async (tx) => {
      const { rows: locked } = await tx.query<LockedPacket>(
        `SELECT ${PACKET_COLUMNS},
           packet_claimable(recipient_id, audience, sender_id, $2) AS claimable,
           expires_at <= clock_timestamp() AS expired,
           (SELECT row_to_json(c) FROM (SELECT id, seq, amount_fen, created_at, credited_at FROM claims
              WHERE packet_id = $1 AND user_id = $2) c) AS raced
         FROM packets WHERE id = $1 FOR UPDATE`,
        [packetId, userId],
      );
      const packet = locked[0];
      if (packet?.raced) return claimFromJson(packetId, userId, packet.raced);
      if (!packet) throw new DomainError(ErrorCode.PacketNotFound, 'no such packet');
      const refusal = refusalOf(packet);
      if (refusal) {
        const raced = packet.claimable ? await findClaim(tx, packetId, userId) : undefined;
        if (raced) return raced;
        throw refusal;
      }
      const amountFen = drawShareFen(packet.type, packet.remainingFen, packet.remainingCount, randomInt);
      const seq = packet.shareCount - packet.remainingCount + 1;
      const claimId = claimIdOf(packetId, seq);
      // The guard repeats the checks so that Postgres refuses on its own: the clock may have passed the
      // expiry while this transaction waited for the lock.
      const { rows } = await tx.query<{ created_at: Date }>(
        `WITH taken AS (
           UPDATE packets SET remaining_fen = remaining_fen - $5, remaining_count = remaining_count - 1
           WHERE id = $2 AND status = 'open' AND remaining_count > 0 AND expires_at > clock_timestamp()
             AND packet_claimable(recipient_id, audience, sender_id, $3)
           RETURNING id
         )
         INSERT INTO claims (id, packet_id, user_id, seq, amount_fen)
         SELECT $1, $2, $3, $4, $5 FROM taken RETURNING created_at`,
        [claimId, packetId, userId, seq, amountFen],
      );
      const created = rows[0];
      if (!created) throw new DomainError(ErrorCode.PacketExpired, 'the packet has expired');
      return {
        claimId,
        packetId,
        userId,
        seq,
        amountFen,
        openedAtMs: created.created_at.getTime(),
        credited: false,
        created: true,
      };
    });
  } catch (err) {
    // The same user opening twice at once: the unique constraint lets one in; the other gets that claim.
    if (pgErrorCode(err) === PgErrorCode.UniqueViolation) {
      const claim = await findClaim(db, packetId, userId);
      if (claim) return claim;
    }
    throw err;
  }
}
