/**
 * The packet as a user may see it: totals, claims with best luck once all are claimed. Built from a
 * snapshot (the packet row and its claims) that the detail cache can hold, so authorization is applied per
 * viewer on every read, cached or not.
 */
import type { Queryable } from '../db';
import { bestLuck } from '../domain/allocation';
import { canView } from './access';
import { findPacket, listClaims, type PacketRow } from './store/packets';

export interface PacketSnapshot {
  packet: Omit<PacketRow, 'expiresAt' | 'createdAt' | 'closedAt'> & {
    expiresAtMs: number;
    createdAtMs: number;
  };
  claims: {
    id: string;
    userId: string;
    seq: number;
    amountFen: number;
    createdAtMs: number;
    credited: boolean;
  }[];
}

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

export async function loadSnapshot(db: Queryable, packetId: string): Promise<PacketSnapshot | undefined> {
  const packet = await findPacket(db, packetId);
  if (!packet) return undefined;
  const claims = await listClaims(db, packetId);
  const { expiresAt, createdAt, closedAt: _closedAt, ...rest } = packet;
  return {
    packet: { ...rest, expiresAtMs: expiresAt.getTime(), createdAtMs: createdAt.getTime() },
    claims: claims.map((claim) => ({
      id: claim.id,
      userId: claim.userId,
      seq: claim.seq,
      amountFen: claim.amountFen,
      createdAtMs: claim.createdAt.getTime(),
      credited: claim.creditedAt !== null,
    })),
  };
}

function publicStatus(packet: PacketSnapshot['packet'], nowMs: number): PacketDetail['status'] {
  if (packet.status === 'finished') return 'finished';
  if (packet.status === 'closed' || packet.expiresAtMs <= nowMs) return 'expired';
  return packet.remainingCount === 0 ? 'exhausted' : 'open';
}

/** Undefined when the viewer may not see the packet, exactly as if it did not exist (no existence oracle). */
export function toDetail(
  snapshot: PacketSnapshot,
  viewerId: string,
  nowMs = Date.now(),
): PacketDetail | undefined {
  const { packet, claims } = snapshot;
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
    expiresAt: new Date(packet.expiresAtMs).toISOString(),
    createdAt: new Date(packet.createdAtMs).toISOString(),
    claims: claims.map((claim) => ({
      claimId: claim.id,
      userId: claim.userId,
      amountFen: claim.amountFen,
      openedAt: new Date(claim.createdAtMs).toISOString(),
      credited: claim.credited,
      bestLuck: best?.id === claim.id,
    })),
    bestLuckUserId: best?.userId ?? null,
  };
}

export async function getPacketDetail(
  db: Queryable,
  packetId: string,
  viewerId: string,
  nowMs = Date.now(),
): Promise<PacketDetail | undefined> {
  const snapshot = await loadSnapshot(db, packetId);
  return snapshot && toDetail(snapshot, viewerId, nowMs);
}
