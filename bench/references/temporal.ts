/**
 * Temporal's limits on this machine, on the same dev server as the service: how fast a trivial workflow
 * (one no-op activity) starts and completes, and how fast raw signals are accepted, one per open, sent to as
 * many waiting workflows as the scenario has packets.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { cpuMeter, type BenchContext } from '../context';
import { waitClosed } from '../credits';
import { runFlows } from '../flows';
import { mapLimit } from '../load';
import { figure, type Figure } from '../stats';
import type { signalSinkWorkflow, trivialWorkflow } from '../workflows';
import { pingSignal } from '../workflows/messages';

const WORKFLOW_TIMEOUT = '2 minutes';
const DRAIN_WAIT_MS = 60_000;
const START_CONCURRENCY = 20;

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

export async function trivialWorkflowReference(ctx: BenchContext): Promise<Figure> {
  const { temporal, runId } = ctx.world;
  const meter = cpuMeter(ctx);
  const run = await runFlows(
    'Temporal trivial workflow',
    ctx.sizes.trivialWorkflows,
    ctx.sizes.sendConcurrency,
    async (i) => {
      try {
        await temporal.client.workflow.execute<typeof trivialWorkflow>('trivialWorkflow', {
          taskQueue: ctx.world.refs.taskQueue,
          workflowId: `bench-trivial-${runId}-${i}`,
          workflowExecutionTimeout: WORKFLOW_TIMEOUT,
        });
        return { outcome: 'completed', requests: 1 };
      } catch (err) {
        return { outcome: 'error workflow', requests: 1, detail: errorText(err) };
      }
    },
  );
  return ctx.report.add(
    meter(
      figure({
        id: 'ref.workflow',
        label: 'machine: trivial workflow (1 no-op activity), start to completion',
        unit: 'workflows',
        count: run.count,
        durationMs: run.durationMs,
        latencies: run.latenciesMs,
        errors: run.errors,
        notes: [`${ctx.sizes.sendConcurrency} in flight`, ...run.errorExamples],
      }),
    ),
  );
}

/**
 * `signals` raw signals to `workflows` waiting workflows from `concurrency` clients. `order` follows the
 * scenario it stands for: a crowd per packet (bursts) or round robin over packets (spread).
 */
export async function signalReference(
  ctx: BenchContext,
  id: string,
  workflows: number,
  signals: number,
  concurrency: number,
  order: 'crowd' | 'roundRobin',
): Promise<Figure> {
  const { temporal, runId } = ctx.world;
  const perWorkflow = Math.ceil(signals / workflows);
  const indexes = Array.from({ length: workflows }, (_, w) => w);
  const handles: WorkflowHandle<typeof signalSinkWorkflow>[] = await mapLimit(
    indexes,
    START_CONCURRENCY,
    (w) =>
      temporal.client.workflow.start<typeof signalSinkWorkflow>('signalSinkWorkflow', {
        taskQueue: ctx.world.refs.taskQueue,
        workflowId: `bench-sink-${id}-${runId}-${w}`,
        args: [perWorkflow],
        workflowExecutionTimeout: WORKFLOW_TIMEOUT,
      }),
  );
  const meter = cpuMeter(ctx);
  const target = (i: number) => (order === 'crowd' ? Math.floor(i / perWorkflow) : i % workflows);
  const run = await runFlows(`raw signals to ${workflows} workflows`, signals, concurrency, async (i) => {
    try {
      await (handles[target(i)] as WorkflowHandle).signal(pingSignal, i);
      return { outcome: 'accepted', requests: 1 };
    } catch (err) {
      return { outcome: 'error signal', requests: 1, detail: errorText(err) };
    }
  });
  // Handling, not only acceptance: how long until every workflow has seen all its signals.
  const deadline = Date.now() + DRAIN_WAIT_MS;
  const closed = await mapLimit(handles, START_CONCURRENCY, (handle) => waitClosed(handle, deadline));
  const drained = closed.every(Boolean);
  const handledMs = Date.now() - (run.lastDoneMs - run.durationMs);
  return ctx.report.add(
    meter(
      figure({
        id,
        label: `machine: raw signals, 1 per open, to ${workflows} workflows`,
        unit: 'signals',
        count: run.count,
        durationMs: run.durationMs,
        latencies: run.latenciesMs,
        errors: run.errors,
        notes: [
          `${concurrency} in flight`,
          'CPU includes the workflows handling the signals',
          drained
            ? `all handled by the workflows within ${(handledMs / 1000).toFixed(1)} s (${Math.round((signals * 1000) / handledMs)}/s)`
            : `not all handled within ${DRAIN_WAIT_MS / 1000} s`,
          ...run.errorExamples,
        ],
      }),
    ),
  );
}
