/**
 * Books of past days, generated in SQL (docs/day-tables.md, "Cold days"): ids start with the day, so every row
 * lands in that day's partitions, and the money moves through apply_transfers, the one writer of transfers
 * and balances. A settled day is what the product leaves behind: deposits, fixed packets paid, claimed,
 * credited and finished (every other one refunded a share). The audit holds it clean.
 */
import type { Db } from '../../db';
import { EXTERNAL_FUNDING_ACCOUNT } from '../../domain/accounts';

/** Per packet: three shares of 100 fen; even packets are claimed twice and refund the third share. */
const SHARE_FEN = 100;
const SHARES = 3;
export const DEPOSIT_FEN = 10_000;

/** yyyymmdd of the UTC day `offsetDays` from today. */
export const dayKey = (offsetDays: number): string =>
  new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10).replace(/-/g, '');
/** The same day as YYYY-MM-DD. */
export const isoDay = (key: string): string => `${key.slice(0, 4)}-${key.slice(4, 6)}-${key.slice(6, 8)}`;
/** The id of the n-th packet of a day, in the allocated form (day, region, kind, 11 digits, 13 base32). */
export const pastPacketId = (day: string, n: number): string =>
  `${day}cn1r${String(n).padStart(11, '0')}aaaaaaaaaaaaa`;

/**
 * Writes a settled day: a deposit into each user's wallet and `packets` packets (at most 86,000: one a second)
 * sent in turn by the users and claimed by the others. `unsettled` leaves the last packet closed with its last claim uncredited (what a day
 * whose credit is stuck looks like): the day is then not settled.
 */
export async function writePastDay(
  db: Db,
  day: string,
  users: readonly string[],
  packets: number,
  options: { unsettled?: boolean } = {},
): Promise<void> {
  const date = isoDay(day);
  await db.withTransaction(async (tx) => {
    await tx.query('SELECT ensure_day_partitions($1::date, $1::date)', [date]);
    await tx.query(
      `INSERT INTO accounts (id, kind, owner_id)
       SELECT wallet_account(u), 'wallet', u FROM unnest($1::text[]) AS u ON CONFLICT (id) DO NOTHING`,
      [users],
    );
    // Scratch tables of the transaction (a statement with parameters cannot create a table).
    await tx.query(`CREATE TEMP TABLE past_packets (n int, id text, sender text, k int) ON COMMIT DROP;
      CREATE TEMP TABLE past_claims (packet_id text, seq int, user_id text, created_at timestamptz,
                                     credited boolean) ON COMMIT DROP;
      CREATE TEMP TABLE past_moves (step int, id text, debit text, credit text, amount bigint, kind text,
                                    packet_id text, claim_id text) ON COMMIT DROP`);
    // The day's packets and their claims, as rows: claimed by the users after the sender, in seq order.
    await tx.query(
      `INSERT INTO past_packets
       SELECT n, format('%scn1r%saaaaaaaaaaaaa', $1::text, lpad(n::text, 11, '0')) AS id,
              ($2::text[])[1 + n % cardinality($2::text[])] AS sender, CASE WHEN n % 2 = 0 THEN 2 ELSE 3 END AS k
         FROM generate_series(1, $3::int) AS n`,
      [day, users, packets],
    );
    await tx.query(
      `INSERT INTO past_claims
       SELECT p.id AS packet_id, s AS seq, ($1::text[])[1 + (p.n + s) % cardinality($1::text[])] AS user_id,
              $2::date + p.n * interval '1 second' + s * interval '100 milliseconds' AS created_at,
              NOT ($3::boolean AND p.n = $4::int AND s = p.k) AS credited
         FROM past_packets p, generate_series(1, p.k) AS s`,
      [users, date, options.unsettled ?? false, packets],
    );
    await tx.query(
      `INSERT INTO packets (day, id, sender_id, type, total_fen, share_count, remaining_fen, remaining_count,
                            status, expires_at, created_at, closed_at, refund_fen)
       SELECT $1::date, id, sender, 'fixed', ${SHARES * SHARE_FEN}, ${SHARES}, (${SHARES} - k) * ${SHARE_FEN},
              ${SHARES} - k, CASE WHEN $2::boolean AND n = $3::int THEN 'closed' ELSE 'finished' END,
              $1::date + interval '1 day', $1::date + n * interval '1 second',
              $1::date + interval '1 day 1 minute', (${SHARES} - k) * ${SHARE_FEN}
         FROM past_packets`,
      [date, options.unsettled ?? false, packets],
    );
    await tx.query(
      `INSERT INTO claims (day, id, packet_id, user_id, seq, amount_fen, created_at, credited_at)
       SELECT $1::date, claim_id(packet_id, seq), packet_id, user_id, seq, ${SHARE_FEN}, created_at,
              CASE WHEN credited THEN created_at + interval '1 second' END
         FROM past_claims`,
      [date],
    );
    await tx.query(
      `INSERT INTO payment_decisions (packet_id, fingerprint, outcome, decided_at)
       SELECT id, 'past-day', 'paid', now() FROM past_packets`,
    );
    await tx.query(
      `INSERT INTO accounts (id, kind, owner_id) SELECT escrow_account(id), 'escrow', id FROM past_packets`,
    );
    // Every movement of the day in one apply_transfers call: deposits, payments, credits and refunds.
    await tx.query(
      `INSERT INTO past_moves
       SELECT 1 AS step, transfer_id('deposit', $1::text || ':' || 'past-' || $1::text || '-' || u) AS id,
              $2::text AS debit, wallet_account(u) AS credit, ${DEPOSIT_FEN}::bigint AS amount,
              'deposit' AS kind, NULL::text AS packet_id, NULL::text AS claim_id
         FROM unnest($3::text[]) AS u
       UNION ALL
       SELECT 2, transfer_id('pay', id), wallet_account(sender), escrow_account(id), ${SHARES * SHARE_FEN},
              'pay', id, NULL FROM past_packets
       UNION ALL
       SELECT 3, transfer_id('credit', claim_id(packet_id, seq)), escrow_account(packet_id),
              wallet_account(user_id), ${SHARE_FEN}, 'credit', packet_id, claim_id(packet_id, seq)
         FROM past_claims WHERE credited
       UNION ALL
       SELECT 4, transfer_id('refund', id), escrow_account(id), wallet_account(sender), (${SHARES} - k) * ${SHARE_FEN},
              'refund', id, NULL FROM past_packets WHERE k < ${SHARES}`,
      [day, EXTERNAL_FUNDING_ACCOUNT, users],
    );
    await tx.query(
      `INSERT INTO deposit_keys (key, transfer_id)
       SELECT substr(id, length('deposit:' || $1::text || ':') + 1), id FROM past_moves WHERE kind = 'deposit'`,
      [day],
    );
    await tx.query(
      `SELECT count(*) FROM apply_transfers(
         (SELECT array_agg(id ORDER BY step, id) FROM past_moves),
         (SELECT array_agg(debit ORDER BY step, id) FROM past_moves),
         (SELECT array_agg(credit ORDER BY step, id) FROM past_moves),
         (SELECT array_agg(amount ORDER BY step, id) FROM past_moves),
         (SELECT array_agg(kind ORDER BY step, id) FROM past_moves),
         (SELECT array_agg(packet_id ORDER BY step, id) FROM past_moves),
         (SELECT array_agg(claim_id ORDER BY step, id) FROM past_moves))`,
    );
  });
}

/** Settles the packet `writePastDay(..., { unsettled: true })` left closed: credits its claim, finishes it. */
export async function settlePastDay(db: Db, day: string, packets: number): Promise<void> {
  const packetId = pastPacketId(day, packets);
  await db.withTransaction(async (tx) => {
    const { rows } = await tx.query<{ id: string; user_id: string; amount_fen: number }>(
      `SELECT id, user_id, amount_fen FROM claims
        WHERE day = day_of_id($1) AND packet_id = $1 AND credited_at IS NULL`,
      [packetId],
    );
    for (const claim of rows) {
      await tx.query(
        `SELECT count(*) FROM apply_transfers(ARRAY[transfer_id('credit', $1)], ARRAY[escrow_account($2)],
                ARRAY[wallet_account($3)], ARRAY[$4::bigint], ARRAY['credit'], ARRAY[$2], ARRAY[$1])`,
        [claim.id, packetId, claim.user_id, claim.amount_fen],
      );
      await tx.query(
        `UPDATE claims SET credited_at = created_at + interval '1 second' WHERE day = day_of_id($1) AND id = $1`,
        [claim.id],
      );
    }
    await tx.query(`UPDATE packets SET status = 'finished' WHERE day = day_of_id($1) AND id = $1`, [
      packetId,
    ]);
  });
}
