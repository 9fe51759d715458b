/**
 * The grab gate in Redis: a copy of what Postgres knows about a packet's free shares, shaped for one Lua call
 * per grab. It is only a filter; the open transaction in Postgres stays the authority on money, so a lost or
 * stale gate can delay or refuse grabs but never over-claim.
 */
import type { Queryable } from '../../db';
import type { RedisDeps } from '../../redis';
import { gateAudience } from '../access';
import { findPacket, listClaims } from '../store/packets';

/** Gate keys outlive the packet by this much so late grabs get "expired" rather than "unknown". */
export const GATE_GRACE_MS = 60 * 60 * 1000;

/**
 * The gate lets grabs and opens through for this long past the expiry by Redis' clock, so that a Redis clock
 * running ahead of Postgres' never refuses an open that Postgres would accept; the open statement decides.
 */
export const GATE_EXPIRY_GRACE_MS = 2_000;

/**
 * A request's rate limits as the grab and open scripts take them, so a refused (429) request never takes a
 * hold (api/rateLimits.ts builds them). The packet's counter is in the gate's slot and is counted by the
 * gate script itself; the client's counters (IP, user) are in other slots (Redis Cluster refuses a script
 * whose keys span slots), so they are counted first, one single-key call each.
 */
export interface GateLimits {
  /**
   * Counts the client's counters before the gate call: resolves with the 429 to answer when one refuses,
   * undefined when all allow; rejects when Redis fails. Absent: nothing to count first.
   */
  countFirst?: () => Promise<Error | undefined>;
  /**
   * On one Redis (no slots to span): the client's counter keys, counted by the gate script itself before the
   * packet's, so the call is one round trip. `argv` then holds their points first.
   */
  clientKeys?: string[];
  /** The window in ms, then the points of each counter the gate script counts; empty: none counted. */
  argv: number[];
  /** The answer when the counter at `index` (1-based, in the script's order) refuses, for `waitMs` more. */
  refusal(waitMs: number, index: number): Error;
}

/** No limits: the references, and a second call after re-arming (the first call counted the request). */
export const NO_LIMITS: GateLimits = {
  argv: [],
  refusal: () => new Error('a call without limits cannot be refused by one'),
};

export interface GateState {
  packetId: string;
  remainingCount: number;
  shareCount: number;
  expiresAtMs: number;
  claimedUserIds: string[];
  /**
   * Members allowed to grab; null means anyone (the personal recipient for personal packets). Never holds
   * the sender of a restricted packet (see gateAudience).
   */
  audience: string[] | null;
}

/**
 * Arms the gate unless it is armed already (by another request a moment earlier, say). Either way the gate
 * is there when this returns: reading "already armed" as "not armable" once let opens skip the hold check.
 */
export async function armGate(redis: RedisDeps, gate: GateState): Promise<void> {
  const { keys } = redis;
  await redis.scripts.armGate(
    keys.gate(gate.packetId),
    keys.claimed(gate.packetId),
    keys.audience(gate.packetId),
    gate.remainingCount,
    gate.shareCount,
    gate.expiresAtMs,
    gate.expiresAtMs + GATE_GRACE_MS,
    gate.audience ? 1 : 0,
    gate.claimedUserIds.length,
    ...gate.claimedUserIds,
    ...(gate.audience ?? []),
  );
}

/**
 * A finished packet's gate: no share left, holders dropped, claimed and audience kept until the TTL. A gate
 * Redis lost is left missing (a grab re-arms it or Postgres answers); writing `remaining` alone would leave a
 * half gate with no expiry and no TTL.
 */
export async function exhaustGate(redis: RedisDeps, packetId: string): Promise<void> {
  const { keys } = redis;
  await redis.scripts.exhaustGate(keys.gate(packetId), keys.holders(packetId), keys.detail(packetId));
}

export async function removeGate(redis: RedisDeps, packetId: string): Promise<void> {
  const { keys } = redis;
  await redis.client.unlink(
    keys.gate(packetId),
    keys.holders(packetId),
    keys.claimed(packetId),
    keys.audience(packetId),
    keys.detail(packetId),
  );
}

/**
 * Arms (or re-arms after Redis lost it) the gate from the packet's row and claims in Postgres. Returns false
 * when the packet is unknown or no longer open (Postgres then answers); Redis failures are thrown.
 */
export async function armGateFromPostgres(
  db: Queryable,
  redis: RedisDeps,
  packetId: string,
): Promise<boolean> {
  const packet = await findPacket(db, packetId);
  if (!packet || packet.status !== 'open') return false;
  const claims = await listClaims(db, packetId);
  await armGate(redis, {
    packetId,
    remainingCount: packet.remainingCount,
    shareCount: packet.shareCount,
    expiresAtMs: packet.expiresAt.getTime(),
    claimedUserIds: claims.map((claim) => claim.userId),
    audience: gateAudience(packet),
  });
  return true;
}
