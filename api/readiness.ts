/** Readiness: each dependency checked in parallel with a short deadline, reported by name. */
import type { Db } from '../db';
import { dayPartitionHealth } from '../ledger/dayTables';
import type { RedisDeps } from '../redis';
import { pingTemporal, type TemporalDeps } from '../temporal/client';

const CHECK_TIMEOUT_MS = 1_500;

export type CheckResult = { status: 'ok'; latencyMs: number } | { status: 'down'; error: string };

export interface Readiness {
  ready: boolean;
  checks: { postgres: CheckResult; redis: CheckResult; temporal: CheckResult };
  /**
   * Day partitions running short (ledger/dayTables.ts): an alarm, not unreadiness, since every send still
   * works until the first day without one; null when Postgres did not answer.
   */
  dayPartitionsShort: boolean | null;
}

async function timed(check: () => Promise<unknown>): Promise<CheckResult> {
  const start = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)),
          CHECK_TIMEOUT_MS,
        );
      }),
    ]);
    return { status: 'ok', latencyMs: Math.round((performance.now() - start) * 10) / 10 };
  } catch (err) {
    return { status: 'down', error: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

export async function checkReadiness(deps: {
  db: Db;
  redis: RedisDeps;
  temporal: TemporalDeps;
}): Promise<Readiness> {
  let partitionsOk: boolean | null = null;
  const [postgres, redis, temporal] = await Promise.all([
    // The readiness query of Postgres is the partition check: one catalog read, answered by any session.
    timed(async () => {
      partitionsOk = (await dayPartitionHealth(deps.db)).ok;
    }),
    timed(() => deps.redis.client.ping()),
    timed(() => pingTemporal(deps.temporal, CHECK_TIMEOUT_MS)),
  ]);
  return {
    ready: postgres.status === 'ok' && redis.status === 'ok' && temporal.status === 'ok',
    checks: { postgres, redis, temporal },
    dayPartitionsShort: partitionsOk === null ? null : !partitionsOk,
  };
}
