/**
 * Arm: write the packet's grab gate to Redis from Postgres, when the payment could not arm it (Redis was
 * away). The gate is only a filter, so the workflow retries this quietly until it succeeds.
 */
import type { Db } from '../db';
import { armGateFromPostgres } from '../packets/gate/gate';
import type { RedisDeps } from '../redis';

export function createGateActivities(deps: { db: Db; redis: RedisDeps }) {
  return {
    async armPacketGate(packetId: string): Promise<void> {
      await armGateFromPostgres(deps.db, deps.redis, packetId);
    },
  };
}
