/**
 * Grab and open, the two gated POSTs of one packet: what they do once the request is known to be a user's
 * well-formed grab or open. The routes (packets.ts, through pipeline.ts) and the hot lane (hotLane.ts) both
 * call these, so the two ways in answer alike.
 */
import type { Counter } from 'prom-client';
import { DomainError } from '../../domain/errors';
import type { GateLimits } from '../../packets/gate/gate';
import { RedisUnavailable } from '../../packets/gate/scripts';
import { grab, grabFromPostgres } from '../../packets/grab';
import { openWithHold } from '../../packets/open';
import type { OpenedClaim } from '../../packets/store/openShare';
import type { AppContext } from '../context';
import { Problem } from '../problems';
import type { LimitCheck } from '../rateLimits';
import type { Reply } from '../reply';

export interface GatedRequest {
  packetId: string;
  userId: string;
  /** The request's limits (IP, user, packet), which the gate script checks before the gate. */
  limits: readonly LimitCheck[];
  /** Adds ids to this request's log line. */
  annotate: (fields: Record<string, string | number>) => void;
}

export type GatedAction = (request: GatedRequest) => Promise<Reply>;

/** The two routes' templates, as the routes mount them and as the metrics and logs name them. */
export const GATED_ROUTES = {
  grab: '/v1/packets/:id/grab',
  open: '/v1/packets/:id/open',
} as const;
export type GatedActionName = keyof typeof GATED_ROUTES;

function claimBody(claim: OpenedClaim) {
  return {
    claimId: claim.claimId,
    packetId: claim.packetId,
    amountFen: claim.amountFen,
    openedAt: new Date(claim.openedAtMs).toISOString(),
    creditStatus: claim.credited ? ('credited' as const) : ('pending' as const),
  };
}

/** Counts a refusal by its code (or `error`) and rethrows; successes are counted by the caller. */
async function counted<T>(outcomes: Counter<'outcome'>, action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (err) {
    outcomes.inc({
      outcome: err instanceof DomainError || err instanceof Problem ? err.code : 'error',
    });
    throw err;
  }
}

export function gatedActions(ctx: AppContext): Record<GatedActionName, GatedAction> {
  const grabDeps = { db: ctx.db, redis: ctx.redis, holdMs: ctx.config.packet.holdMs };
  const openDeps = {
    ...ctx.packets,
    db: ctx.db,
    redis: ctx.redis,
    creditSyncMinFen: ctx.config.credit.syncMinFen,
  };

  /**
   * Degraded mode in one place: the Redis path, whose script checks the request's rate limits before the
   * gate, unless Redis is known to be down or fails now; then the same limits are checked in this process,
   * and the Postgres path pays the strict per-packet limit first. Refusals are counted in `outcomes`.
   */
  async function withFallback<T>(
    outcomes: Counter<'outcome'>,
    packetId: string,
    limits: readonly LimitCheck[],
    viaRedis: (gateLimits: GateLimits) => Promise<T>,
    viaPostgres: () => Promise<T>,
  ): Promise<T> {
    return counted(outcomes, async () => {
      if (!ctx.redisDown()) {
        try {
          return await viaRedis(ctx.rateLimits.forGate(limits));
        } catch (err) {
          if (!(err instanceof RedisUnavailable)) throw err;
        }
      }
      await ctx.rateLimits.consumeLocally(limits);
      await ctx.rateLimits.consume('packetDegraded', packetId);
      return viaPostgres();
    });
  }

  return {
    grab: async ({ packetId, userId, limits, annotate }) => {
      annotate({ packetId });
      const hold = await withFallback(
        ctx.metrics.grabOutcomes,
        packetId,
        limits,
        (gateLimits) => grab(grabDeps, packetId, userId, gateLimits),
        () => grabFromPostgres(grabDeps, packetId, userId),
      );
      ctx.metrics.grabOutcomes.inc({ outcome: hold.degraded ? 'granted_degraded' : 'granted' });
      return { body: hold };
    },
    open: async ({ packetId, userId, limits, annotate }) => {
      annotate({ packetId });
      const claim = await withFallback(
        ctx.metrics.openOutcomes,
        packetId,
        limits,
        (gateLimits) => openWithHold(openDeps, packetId, userId, { redisDown: false, limits: gateLimits }),
        () => openWithHold(openDeps, packetId, userId, { redisDown: true }),
      );
      annotate({ claimId: claim.claimId });
      ctx.metrics.openOutcomes.inc({ outcome: claim.created ? 'opened' : 'repeat' });
      return { body: claimBody(claim) };
    },
  };
}
