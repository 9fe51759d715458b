/**
 * Grab (抢), the use case the grab route calls (`grabPacket`): one Lua call decides, so most of the crowd is
 * turned away by Redis and never reaches Postgres (seed 003). When the gate is missing (Redis lost it) it is
 * re-armed from Postgres; when Redis is down the grab is answered from Postgres instead, under the strict
 * degraded rate limit (admission.ts).
 */
import type { Db } from '../db';
import type { RedisDeps } from '../redis';
import { refusalOf, refuse, type ShareOffer } from './access';
import { viaGateOrPostgres, type Admission, type GatedLimits } from './admission';
import { NO_LIMITS, type GateLimits } from './gate/gate';
import { askGate, GrabShareStatus, scriptRefusal } from './gate/scripts';

export interface Hold {
  packetId: string;
  holdExpiresAt: string;
  /** Shares not yet held or claimed, as the gate saw them. */
  remainingCount: number;
  /** True when Redis was unreachable and Postgres answered (no share is reserved). */
  degraded: boolean;
}

export interface GrabDeps {
  db: Db;
  redis: RedisDeps;
  config: { packet: { holdMs: number } };
}

/**
 * The grab a request makes: through the gate with the request's rate limits (`limits`, checked by the gate
 * script), or from Postgres when Redis is down.
 */
export function grabPacket<L>(
  deps: GrabDeps & Admission<L>,
  packetId: string,
  userId: string,
  limits: GatedLimits<L>,
): Promise<Hold> {
  return viaGateOrPostgres(
    deps,
    packetId,
    limits,
    (gateLimits) => grab(deps, packetId, userId, gateLimits),
    () => grabFromPostgres(deps, packetId, userId),
  );
}

/**
 * The grab: one script call checks the request's rate limits and then the gate (a gate that Redis lost is
 * re-armed from Postgres and asked again, see askGate).
 */
export async function grab(
  deps: GrabDeps,
  packetId: string,
  userId: string,
  limits: GateLimits = NO_LIMITS,
): Promise<Hold> {
  const [status, holdExpiresAtMs, remaining] = await askGate(
    deps,
    'grabShare',
    packetId,
    userId,
    [deps.config.packet.holdMs],
    limits,
  );
  if (status === GrabShareStatus.NotArmed) {
    // Not armed and not armable: unknown, or no longer open. Postgres says which, with the same answer
    // for "unknown" and "not yours".
    return grabFromPostgres(deps, packetId, userId);
  }
  const refused = scriptRefusal('grabShare', status);
  if (refused) throw refused;
  return {
    packetId,
    holdExpiresAt: new Date(holdExpiresAtMs).toISOString(),
    remainingCount: remaining,
    degraded: false,
  };
}

/**
 * Degraded grab: the same checks against Postgres (its eligibility rule and its clock), without reserving a
 * share (the open transaction decides).
 */
export async function grabFromPostgres(deps: GrabDeps, packetId: string, userId: string): Promise<Hold> {
  const { rows } = await deps.db.query<ShareOffer>(
    `SELECT status, remaining_count AS "remainingCount",
       packet_claimable(recipient_id, audience, sender_id, $2) AS claimable,
       expires_at <= clock_timestamp() AS expired,
       EXISTS (SELECT 1 FROM claims WHERE day = day_of_id($1) AND packet_id = $1 AND user_id = $2) AS claimed
     FROM packets WHERE day = day_of_id($1) AND id = $1`,
    [packetId, userId],
  );
  const offer = rows[0];
  if (!offer) throw refuse.notFound();
  const refused = refusalOf(offer);
  if (refused) throw refused;
  return {
    packetId,
    holdExpiresAt: new Date(Date.now() + deps.config.packet.holdMs).toISOString(),
    remainingCount: offer.remainingCount,
    degraded: true,
  };
}
