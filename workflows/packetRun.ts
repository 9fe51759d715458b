/**
 * Two parts of a packet workflow's run that every path shares: publishing its state where operators look
 * (search attributes, current details), and retrying a credit or settlement step while recording why it
 * fails. Deterministic workflow code, like packet.ts.
 */
import {
  ActivityFailure,
  isCancellation,
  log,
  setCurrentDetails,
  sleep,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import {
  CreditStuckKey,
  PacketStatusKey,
  PendingCreditsKey,
  type PacketInput,
  type PacketPhase,
  type PacketView,
  type WaitingCredit,
} from '../saga';
import { summarize } from './summary';

/** Waiting between failed credit attempts, doubling up to the cap. */
const FAILURE_BACKOFF_BASE_MS = 1_000;
const FAILURE_BACKOFF_MAX_MS = 60_000;

export type Publish = (phase: PacketPhase) => void;

/** Sets the phase and shows it: search attributes only when they change (each upsert is an event). */
export function createPublisher(view: PacketView, waiting: Map<string, WaitingCredit>): Publish {
  let published = { phase: '', pending: -1, stuck: false };
  return (phase) => {
    view.phase = phase;
    const next = { phase, pending: waiting.size, stuck: view.creditStuck };
    if (
      next.phase !== published.phase ||
      next.pending !== published.pending ||
      next.stuck !== published.stuck
    ) {
      upsertSearchAttributes([
        { key: PacketStatusKey, value: phase },
        { key: PendingCreditsKey, value: waiting.size },
        { key: CreditStuckKey, value: view.creditStuck },
      ]);
      published = next;
    }
    setCurrentDetails(summarize(view, [...waiting.values()]));
  };
}

/**
 * Runs a credit step until it succeeds, recording failures where operators look (CreditStuck once failing
 * longer than the packet's threshold). `afterFailure` runs after each backoff: the settle-leaves-owed path
 * continues-as-new there when the history is long.
 */
export function createCreditTracker(run: {
  input: PacketInput;
  view: PacketView;
  waiting: Map<string, WaitingCredit>;
  publish: Publish;
}) {
  const { input, view, waiting, publish } = run;
  return async function creditWithTracking<T>(
    step: () => Promise<T>,
    afterFailure?: () => Promise<void>,
  ): Promise<T> {
    let backoffMs = FAILURE_BACKOFF_BASE_MS;
    for (;;) {
      try {
        const result = await step();
        if (view.failingSinceMs !== null) log.info('credit recovered', { packetId: input.packetId });
        view.failingSinceMs = null;
        view.lastError = null;
        view.creditStuck = false;
        for (const claim of waiting.values()) claim.lastError = null;
        return result;
      } catch (err) {
        if (isCancellation(err)) throw err;
        const message = err instanceof ActivityFailure && err.cause ? err.cause.message : String(err);
        view.failingSinceMs ??= Date.now();
        view.lastError = message;
        for (const claim of waiting.values()) claim.lastError = message;
        view.creditStuck = Date.now() - view.failingSinceMs >= input.creditStuckAfterMs;
        log.warn('credit failed; retrying', {
          packetId: input.packetId,
          error: message,
          stuck: view.creditStuck,
        });
        publish(view.phase);
        await sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, FAILURE_BACKOFF_MAX_MS);
        await afterFailure?.();
      }
    }
  };
}
