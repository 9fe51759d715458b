/**
 * The heal: after the faults stop (every component back), how long until the service has paid everything
 * it owes. Polled once a second, bounded by the heal budget. "Healed" is the API ready, every claim
 * credited, every expired packet finished and no CreditStuck; "settled" additionally waits for every packet
 * to expire and finish (the load's packets all expire within --max-expiry of its end) and for no packet
 * workflow to be left running, so the checker judges a quiet system.
 */
import { log, sleep } from '../bench/progress';
import { stuckCount } from './workflows';
import type { ChaosWorld } from './world';

const POLL_MS = 1_000;

/** What the heal reads: one cell's API, database and Temporal (the chaos world, or one cell of --cells). */
export type HealTarget = Pick<ChaosWorld, 'url' | 'db' | 'temporal'>;

export interface HealResult {
  /** From the faults' end until healed, or undefined when the budget ran out first. */
  healMs?: number;
  settledMs?: number;
  /** The last state seen, for the report when the budget ran out. */
  last: string;
}

interface State {
  ready: boolean;
  uncredited: number;
  expiredOpen: number;
  unfinished: number;
  stuck: number;
  packetWorkflows: number;
}

async function readState(world: HealTarget): Promise<State> {
  let ready = false;
  try {
    ready = (await fetch(`${world.url}/readyz`, { signal: AbortSignal.timeout(3_000) })).ok;
  } catch {
    ready = false;
  }
  const { rows } = await world.db.query<Record<string, number>>(`
    SELECT (SELECT count(*)::int FROM claims WHERE credited_at IS NULL) AS uncredited,
           (SELECT count(*)::int FROM packets WHERE status <> 'finished' AND expires_at < now()) AS expired_open,
           (SELECT count(*)::int FROM packets WHERE status <> 'finished') AS unfinished`);
  const row = rows[0] ?? {};
  const client = world.temporal.client;
  const running = await client.workflow.count(
    'ExecutionStatus = "Running" AND WorkflowId STARTS_WITH "packet-"',
  );
  return {
    ready,
    uncredited: row.uncredited ?? -1,
    expiredOpen: row.expired_open ?? -1,
    unfinished: row.unfinished ?? -1,
    stuck: await stuckCount(client),
    packetWorkflows: running.count,
  };
}

export async function heal(world: HealTarget, faultsEndMs: number, budgetMs: number): Promise<HealResult> {
  const result: HealResult = { last: '' };
  const deadlineMs = faultsEndMs + budgetMs;
  while (Date.now() < deadlineMs) {
    let state: State | undefined;
    try {
      state = await readState(world);
      result.last = JSON.stringify(state);
    } catch (err) {
      result.last = `state unreadable: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (state) {
      const healed = state.ready && state.uncredited === 0 && state.expiredOpen === 0 && state.stuck === 0;
      if (healed && result.healMs === undefined) {
        result.healMs = Date.now() - faultsEndMs;
        log(`healed ${(result.healMs / 1000).toFixed(1)} s after the faults stopped`);
      }
      if (healed && state.unfinished === 0 && state.packetWorkflows === 0) {
        result.settledMs = Date.now() - faultsEndMs;
        log(`every packet settled ${(result.settledMs / 1000).toFixed(1)} s after the faults stopped`);
        return result;
      }
    }
    await sleep(POLL_MS);
  }
  log(`heal budget of ${budgetMs} ms ran out: ${result.last}`);
  return result;
}
