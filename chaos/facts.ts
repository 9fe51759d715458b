/**
 * What the checker reads from the private Postgres after the heal: plain SQL over the tables the money
 * lives in (claims, transfers, packets, packet_requests, accounts), so the checker depends on the schema,
 * not on the service's code it is judging.
 */
import type { Db } from '../db';

export interface ClaimRow {
  id: string;
  packetId: string;
  userId: string;
  amountFen: number;
  createdMs: number;
  creditedMs: number | null;
  credits: number;
  creditedFen: number;
}

export interface PacketRow {
  id: string;
  totalFen: number;
  shareCount: number;
  status: string;
  refundFen: number | null;
  expired: boolean;
  claims: number;
  claimedFen: number;
  pays: number;
  paidFen: number;
  refunds: number;
  refundedFen: number;
  escrowFen: number;
}

export interface Facts {
  claims: ClaimRow[];
  packets: Map<string, PacketRow>;
  /** `${senderId} ${idempotencyKey}` -> packet id. */
  requests: Map<string, string>;
  /** Deposit transfer id -> amount and wallet. */
  deposits: Map<string, { amountFen: number; account: string }>;
  /** Packet ids whose payment was refused (insufficient funds): their workflows end FAILED by design. */
  refusedPayments: Set<string>;
  totals: { walletsFen: number; escrowsFen: number; externalFen: number; depositedFen: number };
}

const n = (value: unknown): number => Number(value);

export async function readFacts(db: Db): Promise<Facts> {
  const claims = await db.query<Record<string, unknown>>(`
    SELECT c.id, c.packet_id, c.user_id, c.amount_fen,
           extract(epoch FROM c.created_at) * 1000 AS created_ms,
           extract(epoch FROM c.credited_at) * 1000 AS credited_ms,
           count(t.id)::int AS credits, coalesce(sum(t.amount_fen), 0)::bigint AS credited_fen
      FROM claims c LEFT JOIN transfers t ON t.kind = 'credit' AND t.claim_id = c.id
     GROUP BY c.id, c.packet_id, c.user_id, c.amount_fen, c.created_at, c.credited_at`);
  const packets = await db.query<Record<string, unknown>>(`
    SELECT p.id, p.total_fen, p.share_count, p.status, p.refund_fen, p.expires_at < now() AS expired,
           (SELECT count(*)::int FROM claims c WHERE c.packet_id = p.id) AS claims,
           (SELECT coalesce(sum(amount_fen), 0)::bigint FROM claims c WHERE c.packet_id = p.id) AS claimed_fen,
           (SELECT count(*)::int FROM transfers t WHERE t.kind = 'pay' AND t.packet_id = p.id) AS pays,
           (SELECT coalesce(sum(amount_fen), 0)::bigint FROM transfers t WHERE t.kind = 'pay' AND t.packet_id = p.id)
             AS paid_fen,
           (SELECT count(*)::int FROM transfers t WHERE t.kind = 'refund' AND t.packet_id = p.id) AS refunds,
           (SELECT coalesce(sum(amount_fen), 0)::bigint FROM transfers t WHERE t.kind = 'refund' AND t.packet_id = p.id)
             AS refunded_fen,
           coalesce((SELECT balance_fen FROM accounts a WHERE a.id = escrow_account(p.id)), 0) AS escrow_fen
      FROM packets p`);
  const requests = await db.query<{ sender_id: string; idempotency_key: string; packet_id: string }>(
    'SELECT sender_id, idempotency_key, packet_id FROM packet_requests',
  );
  const deposits = await db.query<{ id: string; amount_fen: number; credit_account_id: string }>(
    // Keyed by the caller's key as `deposit:<key>` (the id before ids carried a day, docs/day-tables.md).
    `SELECT coalesce('deposit:' || k.key, t.id) AS id, t.amount_fen, t.credit_account_id
       FROM transfers t LEFT JOIN deposit_keys k ON k.transfer_id = t.id WHERE t.kind = 'deposit'`,
  );
  const refused = await db.query<{ packet_id: string }>(
    `SELECT packet_id FROM payment_decisions WHERE outcome = 'refused'`,
  );
  const totals = await db.query<Record<string, unknown>>(`
    SELECT coalesce(sum(balance_fen) FILTER (WHERE kind = 'wallet'), 0) AS wallets,
           coalesce(sum(balance_fen) FILTER (WHERE kind = 'escrow'), 0) AS escrows,
           coalesce(sum(balance_fen) FILTER (WHERE kind = 'external'), 0) AS external,
           (SELECT coalesce(sum(amount_fen), 0) FROM transfers WHERE kind = 'deposit') AS deposited
      FROM accounts`);
  const total = totals.rows[0] ?? {};
  return {
    claims: claims.rows.map((row) => ({
      id: String(row.id),
      packetId: String(row.packet_id),
      userId: String(row.user_id),
      amountFen: n(row.amount_fen),
      createdMs: n(row.created_ms),
      creditedMs: row.credited_ms === null ? null : n(row.credited_ms),
      credits: n(row.credits),
      creditedFen: n(row.credited_fen),
    })),
    packets: new Map(
      packets.rows.map((row) => [
        String(row.id),
        {
          id: String(row.id),
          totalFen: n(row.total_fen),
          shareCount: n(row.share_count),
          status: String(row.status),
          refundFen: row.refund_fen === null ? null : n(row.refund_fen),
          expired: row.expired === true,
          claims: n(row.claims),
          claimedFen: n(row.claimed_fen),
          pays: n(row.pays),
          paidFen: n(row.paid_fen),
          refunds: n(row.refunds),
          refundedFen: n(row.refunded_fen),
          escrowFen: n(row.escrow_fen),
        },
      ]),
    ),
    requests: new Map(requests.rows.map((row) => [`${row.sender_id} ${row.idempotency_key}`, row.packet_id])),
    deposits: new Map(
      deposits.rows.map((row) => [row.id, { amountFen: n(row.amount_fen), account: row.credit_account_id }]),
    ),
    refusedPayments: new Set(refused.rows.map((row) => row.packet_id)),
    totals: {
      walletsFen: n(total.wallets),
      escrowsFen: n(total.escrows),
      externalFen: n(total.external),
      depositedFen: n(total.deposited),
    },
  };
}
