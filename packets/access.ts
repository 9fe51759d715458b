/**
 * Who may see a packet and who may claim a share of it, and what a user who may not is told: the one
 * authorization rule of grab, open, detail and the lists.
 *
 * - Claiming: decided in Postgres by `packet_claimable` (migration 0006), the one definition that the open
 *   statement, the degraded grab and the audit share; the Redis gate mirrors it (`gateAudience`: the sender
 *   is never in a restricted gate's audience). `refusalOf` orders the refusals so that every path (grab in
 *   Redis, grab in Postgres, open) gives the same answer.
 * - Seeing: `canView`, applied per viewer on every detail read, cached or not. The lists show a user only
 *   the packets they are a party to (`packets/store/lists.ts`: sent by them, or claimed by them), which
 *   `canView` always allows, so a list never shows what the detail would hide.
 */
import { ErrorCode, refusal, type DomainError } from '../domain/errors';
import type { PacketRow } from './store/packets';

/** The refusals every path gives, worded once (stack-free: thousands a second in a storm). */
export const refuse = {
  notFound: () => refusal(ErrorCode.PacketNotFound, 'no such packet'),
  expired: () => refusal(ErrorCode.PacketExpired, 'the packet has expired'),
  claimed: () => refusal(ErrorCode.AlreadyClaimed, 'you have already opened this packet'),
  exhausted: () => refusal(ErrorCode.PacketExhausted, 'every share has been taken'),
};

export interface ShareOffer {
  /** packet_claimable(...) for this user, by Postgres. */
  claimable: boolean;
  /** Past expires_at by Postgres' clock. */
  expired: boolean;
  status: PacketRow['status'];
  remainingCount: number;
  /** The user already holds a claim on this packet. */
  claimed?: boolean;
}

/**
 * Why a packet offers this user no share, in the order the gate script answers: not claimable reads as
 * unknown, then expiry, then an earlier claim, then exhaustion. A packet finished because every share was
 * claimed is exhausted, not expired, until its expiry time.
 */
export function refusalOf(offer: ShareOffer): DomainError | undefined {
  // Not found and not allowed read the same, so the answer reveals nothing about packets one may not claim.
  if (!offer.claimable) return refuse.notFound();
  if (offer.expired || (offer.status !== 'open' && offer.remainingCount > 0)) return refuse.expired();
  if (offer.claimed) return refuse.claimed();
  if (offer.remainingCount === 0) return refuse.exhausted();
  return undefined;
}

/** Who may see a packet: its sender, its recipient or audience, anyone who claimed it; anyone if unrestricted. */
export function canView(
  packet: Pick<PacketRow, 'senderId' | 'recipientId' | 'audience'>,
  userId: string,
  claimants: string[],
): boolean {
  if (packet.senderId === userId || claimants.includes(userId)) return true;
  if (packet.recipientId) return packet.recipientId === userId;
  if (packet.audience) return packet.audience.includes(userId);
  return true;
}

/** Restricted packets never offer the sender a share, so the sender never enters a gate's audience. */
export function gateAudience(packet: {
  senderId: string;
  recipientId: string | null;
  audience: string[] | null;
}): string[] | null {
  const members = packet.recipientId ? [packet.recipientId] : packet.audience;
  return members && members.filter((userId) => userId !== packet.senderId);
}
