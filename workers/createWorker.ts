/**
 * Builds a worker on a connection, task queue and activity deps. Tests pass a prebuilt workflow bundle so
 * bundling (seconds of webpack) happens once per run, not once per test.
 */
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import type { Tracing } from '../tracing';

export const WORKFLOWS_PATH = require.resolve('../workflows');

export interface CreateWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** Set only when tracing is on; a prebuilt `workflowBundle` must then be the traced one. */
  tracing?: Tracing | undefined;
  overrides?: Partial<WorkerOptions>;
}

export async function createWorker(options: CreateWorkerOptions): Promise<Worker> {
  const source = options.workflowBundle
    ? { workflowBundle: options.workflowBundle }
    : { workflowsPath: WORKFLOWS_PATH };
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    activities: createActivities(options.deps),
    ...source,
    // Bounded concurrency: the credit path is I/O bound on Postgres, and the pool is the real limit.
    maxConcurrentActivityTaskExecutions: 50,
    maxConcurrentWorkflowTaskExecutions: 50,
    // The SDK sizes its sticky cache from the heap limit (thousands of workflows here); every open packet
    // then stays in memory. A bounded cache costs a replay of a few dozen events when an evicted packet wakes
    // (at "all credited" or expiry, rarely more). Measured with the bench's send phase (500 packets started
    // at once) on the production build with WORKER_NODE_ARGS: worker peak RSS 283 MB with 150 cached,
    // 224 MB with 40 (about 0.5 MB per cached workflow in the shared V8 context).
    maxCachedWorkflows: 50,
    // Interceptors and the workflow span sink when tracing is on; nothing at all when it is off.
    ...options.tracing?.workerOptions(options.workflowBundle !== undefined),
    ...options.overrides,
  });
}
