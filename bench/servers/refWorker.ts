/**
 * Bench child: a Temporal worker for the bench workflows on the references' task queue, with the same
 * concurrency limits as the service's worker so the two are compared like for like. Tells the bench over IPC
 * once it polls, and stops on SIGINT/SIGTERM (Worker.run handles both).
 */
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { loadConfig } from '../../config';
import { createBenchActivities } from '../activities';

async function main(): Promise<void> {
  const config = loadConfig();
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const worker = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    workflowsPath: require.resolve('../workflows'),
    activities: createBenchActivities(),
    maxConcurrentActivityTaskExecutions: 50,
    maxConcurrentWorkflowTaskExecutions: 50,
  });
  process.send?.({ kind: 'ready' });
  await worker.run();
  await connection.close();
}

main().catch((err: unknown) => {
  console.error('bench worker failed', err);
  process.exit(1);
});
