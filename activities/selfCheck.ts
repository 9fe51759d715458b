/** A round trip through every dependency of the worker, used to prove a deployment end to end. */
import type { Db } from '../db';
import type { RedisDeps } from '../redis';

export interface SelfCheckResult {
  postgresMs: number;
  redisMs: number;
  serverVersion: string;
}

export function createSelfCheckActivities(deps: { db: Db; redis: RedisDeps }) {
  return {
    async selfCheck(marker: string): Promise<SelfCheckResult> {
      const pgStart = performance.now();
      const { rows } = await deps.db.query<{ server_version: string }>('SHOW server_version');
      const postgresMs = performance.now() - pgStart;
      const redisStart = performance.now();
      // A short-lived key written and read back shows the worker can write, not only connect.
      const key = `${deps.redis.keys.prefix}selfcheck:${marker}`;
      await deps.redis.client.set(key, marker, 'PX', 60_000);
      const echoed = await deps.redis.client.get(key);
      if (echoed !== marker) throw new Error(`Redis returned ${String(echoed)} for the self-check key`);
      const redisMs = performance.now() - redisStart;
      return { postgresMs, redisMs, serverVersion: rows[0]?.server_version ?? 'unknown' };
    },
  };
}
