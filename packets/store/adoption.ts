/**
 * The SQL of adoption (packets/adopt.ts): what a recovered packet workflow needs to know about its packet,
 * read from Postgres because the workflow's own history is gone.
 */
import type { Queryable } from '../../db';
import { escrowAccount } from '../../domain/accounts';

/** The packet's money as Postgres has it now; credited claims are those the pumps (or settlement) credited. */
export interface PacketMoney {
  escrowFen: number;
  creditedCount: number;
  creditedFen: number;
  /** The send's fingerprint from the payment decision (`legacy` or `fields:...` for older packets). */
  fingerprint: string | null;
}

export async function readPacketMoney(q: Queryable, packetId: string): Promise<PacketMoney> {
  const { rows } = await q.query<PacketMoney>(
    `SELECT coalesce((SELECT balance_fen FROM accounts WHERE id = $2), 0) AS "escrowFen",
            (SELECT count(*)::int FROM claims
              WHERE day = day_of_id($1) AND packet_id = $1 AND credited_at IS NOT NULL) AS "creditedCount",
            (SELECT coalesce(sum(amount_fen), 0)::bigint FROM claims
              WHERE day = day_of_id($1) AND packet_id = $1 AND credited_at IS NOT NULL) AS "creditedFen",
            (SELECT fingerprint FROM payment_decisions WHERE packet_id = $1) AS fingerprint`,
    [packetId, escrowAccount(packetId)],
  );
  const row = rows[0];
  if (!row) throw new Error(`reading packet ${packetId}'s money returned no row`);
  return row;
}

/** Payment decisions that nobody decided and that paid nothing (no packet row), oldest ids first. */
export async function listUndecidedPayments(q: Queryable, limit: number): Promise<string[]> {
  const { rows } = await q.query<{ packet_id: string }>(
    `SELECT d.packet_id FROM payment_decisions d
      WHERE d.outcome IS NULL AND NOT EXISTS (
        SELECT 1 FROM packets p WHERE p.day = day_of_id(d.packet_id) AND p.id = d.packet_id)
      ORDER BY d.packet_id
      LIMIT $1`,
    [limit],
  );
  return rows.map((row) => row.packet_id);
}
