/**
 * Keeps what a worker starts once alive for good: the credit pumps, the settle pumps (several cells only) and
 * the reconcile schedule. All are started at start-up, and all live in Temporal, so a Temporal whose state
 * was lost or restored from an older backup (issue 25) would otherwise have none of them until a worker
 * restarted: no credits, no cross-cell deliveries, and no reconciler to adopt the packets that lost their
 * workflows. Every `everyMs` the worker asks again; every call is idempotent (a running pump and an
 * unchanged schedule are left alone), so the cost is one start call per pump and one schedule call per
 * interval.
 */
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Logger } from '../config/logger';
import { startCreditPumps } from './creditPumps';
import { ensureReconcileSchedule } from './reconcileSchedule';
import { startSettlePumps } from './settlePumps';

export type KeptConfig = Pick<Config, 'credit' | 'reconcile' | 'temporal' | 'cells' | 'clearing'>;

/** Starts the pumps and the schedule, or leaves them as they are; what it did with the schedule. */
export async function ensureBackground(
  client: Client,
  config: KeptConfig,
): Promise<'created' | 'updated' | 'unchanged'> {
  await startCreditPumps(client, config);
  await startSettlePumps(client, config);
  return ensureReconcileSchedule(client, config);
}

/** Calls ensureBackground every `everyMs` until stopped; a failure is logged and tried again next time. */
export function keepBackground(
  client: Client,
  config: KeptConfig,
  log: Pick<Logger, 'warn' | 'info'>,
  everyMs: number,
): { stop(): void } {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    ensureBackground(client, config)
      .then((schedule) => {
        if (schedule === 'created') log.info('reconcile schedule was missing; created it again');
      })
      .catch((err: unknown) =>
        log.warn({ err }, 'could not ensure the credit pumps and the reconcile schedule'),
      )
      .finally(() => {
        running = false;
      });
  }, everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
