/**
 * Whose payment a packet's `payment_decisions` row records. The payment activity (activities/payment.ts) and
 * the send (packets/send.ts) both ask, so an id handed out twice is recognised in one way on both sides.
 *
 * A decision carries the fingerprint of the send that owns the packet id. Two older forms remain while
 * packets from before fingerprints run: `legacy` (packets paid before migration 0006) and `fields:...`
 * (workflows started without a fingerprint); both are matched by sender, total and count, as they were then.
 */
import type { Queryable } from '../../db';
import { findPacket } from './packets';

export const LEGACY_FINGERPRINT = 'legacy';
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
  if (stored.startsWith(FIELDS_PREFIX)) return stored === fieldsFingerprint(send);
  if (stored !== LEGACY_FINGERPRINT) return false;
  const packet = await findPacket(db, packetId);
  return (
    packet?.senderId === send.senderId &&
    packet.totalFen === send.totalFen &&
    packet.shareCount === send.count
  );
}
