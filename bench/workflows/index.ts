/**
 * Bench-only workflows for Temporal's own limits on this machine (deterministic code, like workflows/):
 * the rate a trivial workflow with one no-op activity starts and completes, and the rate a signal is
 * accepted and handled, against which the service's send and credit paths are judged.
 */
import { condition, proxyActivities, setHandler } from '@temporalio/workflow';
import type { BenchActivities } from '../activities';
import { pingSignal } from './messages';

const { noop } = proxyActivities<BenchActivities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '200 milliseconds', maximumAttempts: 3 },
});

export async function trivialWorkflow(): Promise<void> {
  await noop();
}

/** Completes after `expected` pings: stands in for a packet workflow that is woken once per open. */
export async function signalSinkWorkflow(expected: number): Promise<number> {
  let received = 0;
  setHandler(pingSignal, () => {
    received++;
  });
  await condition(() => received >= expected);
  return received;
}
