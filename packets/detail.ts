/** The packet as a user may see it: totals, claims with best luck once all are claimed, and who may look. */
import type { Queryable } from '../db';
import { bestLuck } from '../domain/allocation';
import { findPacket, listClaims, type PacketRow } from './store';

export interface ClaimView {
  claimId: string;
  userId: string;
  amountFen: number;
  openedAt: string;
  credited: boolean;
  bestLuck: boolean;
}

export interface PacketDetail {
  packetId: string;
  type: PacketRow['type'];
  senderId: string;
  status: 'open' | 'expired' | 'exhausted' | 'finished';
  totalFen: number;
  count: number;
  remainingCount: number;
  claimedFen: number;
  refundFen: number | null;
  greeting: string | null;
  recipientId: string | null;
  expiresAt: string;
  createdAt: string;
  claims: ClaimView[];
  bestLuckUserId: string | null;
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

function publicStatus(packet: PacketRow, nowMs: number): PacketDetail['status'] {
  if (packet.status === 'finished') return 'finished';
  if (packet.status === 'closed' || packet.expiresAt.getTime() <= nowMs) return 'expired';
  return packet.remainingCount === 0 ? 'exhausted' : 'open';
}

/** Undefined both when the packet does not exist and when the viewer may not see it (no existence oracle). */
export async function getPacketDetail(
  db: Queryable,
  packetId: string,
  viewerId: string,
  nowMs = Date.now(),
): Promise<PacketDetail | undefined> {
  const packet = await findPacket(db, packetId);
  if (!packet) return undefined;
  const claims = await listClaims(db, packetId);
  if (
    !canView(
      packet,
      viewerId,
      claims.map((claim) => claim.userId),
    )
  )
    return undefined;
  const best = bestLuck(claims, packet.shareCount);
  return {
    packetId: packet.id,
    type: packet.type,
    senderId: packet.senderId,
    status: publicStatus(packet, nowMs),
    totalFen: packet.totalFen,
    count: packet.shareCount,
    remainingCount: packet.remainingCount,
    claimedFen: packet.totalFen - packet.remainingFen,
    refundFen: packet.refundFen,
    greeting: packet.greeting,
    recipientId: packet.recipientId,
    expiresAt: packet.expiresAt.toISOString(),
    createdAt: packet.createdAt.toISOString(),
    claims: claims.map((claim) => ({
      claimId: claim.id,
      userId: claim.userId,
      amountFen: claim.amountFen,
      openedAt: claim.createdAt.toISOString(),
      credited: claim.creditedAt !== null,
      bestLuck: best?.id === claim.id,
    })),
    bestLuckUserId: best?.userId ?? null,
  };
}
