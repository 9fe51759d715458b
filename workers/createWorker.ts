/**
 * Builds a worker on a connection, task queue and activity deps. Tests pass a prebuilt workflow bundle so
 * bundling (seconds of webpack) happens once per run, not once per test.
 */
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';

export const WORKFLOWS_PATH = require.resolve('../workflows');

export interface CreateWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  workflowBundle?: WorkerOptions['workflowBundle'];
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
    // then stays in memory. A bounded cache costs a history replay when an evicted packet wakes up again.
    // Measured with the bench's send phase (500 open packets) on the production build: worker peak RSS
    // 346 MB with 500 cached, 298 MB with 150 (about 0.14 MB per cached packet workflow).
    maxCachedWorkflows: 150,
    ...options.overrides,
  });
}
