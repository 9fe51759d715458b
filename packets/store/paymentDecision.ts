/**
 * Whose payment a packet's `payment_decisions` row records. The payment activity (activities/payment.ts) and
 * the send (packets/send.ts) both ask, so an id handed out twice is recognised in one way on both sides.
 *
 * A decision carries the fingerprint of the send that owns the packet id. Two older forms remain while
 * packets from before fingerprints run: `legacy` (packets paid before migration 0006) and `fields:...`
 * (workflows started without a fingerprint); both are matched by sender, total and count, as they were then. The payment (`pay_packet`) and this file
 * ask Postgres' `payment_decision_owned`, so the rule is written once.
 */
import type { Queryable } from '../../db';

const FIELDS_PREFIX = 'fields:';

export interface SendIdentity {
  fingerprint?: string | undefined;
  senderId: string;
  totalFen: number;
  count: number;
}

const fieldsFingerprint = (send: SendIdentity): string =>
  `${FIELDS_PREFIX}${send.senderId}:${send.totalFen}:${send.count}`;

/** The fingerprint a send writes into its decision: its own, or its fields when it has none. */
export function fingerprintOf(send: SendIdentity): string {
  return send.fingerprint ?? fieldsFingerprint(send);
}

/** Whether the decision stored for `packetId` (with fingerprint `stored`) belongs to this send. */
export async function decisionOwnedBy(
  db: Queryable,
  packetId: string,
  stored: string,
  send: SendIdentity,
): Promise<boolean> {
  if (stored === fingerprintOf(send)) return true;
  const { rows } = await db.query<{ owned: boolean }>(
    'SELECT payment_decision_owned($1, $2, $3, $4, $5, $6) AS owned',
    [packetId, stored, fingerprintOf(send), send.senderId, send.totalFen, send.count],
  );
  return rows[0]?.owned === true;
}

/**
 * Decides a payment that nobody decided, the way the fence decides a payment that cannot go on: `refused`,
 * written under the decision row's lock, and only while it is still undecided and nothing was paid (no packet
 * row). An attempt that still holds the row (`pay_packet`) is waited for and wins; an attempt that comes later
 * obeys the refusal, as it obeys any other. The reason stays empty (nobody was refused for a cause), which
 * `pay_packet` answers as it answers every refusal without one: insufficient funds, nothing paid.
 * Returns whether this call decided it.
 */
export async function refuseUndecidedPayment(db: Queryable, packetId: string): Promise<boolean> {
  const { rows } = await db.query<{ packet_id: string }>(
    `UPDATE payment_decisions d SET outcome = 'refused', decided_at = now()
      WHERE d.packet_id = $1 AND d.outcome IS NULL AND NOT EXISTS (
        SELECT 1 FROM packets p WHERE p.day = day_of_id($1) AND p.id = $1)
      RETURNING d.packet_id`,
    [packetId],
  );
  return rows.length > 0;
}
