/** Starts the reference children (HTTP references and the bench Temporal worker) and waits until both serve. */
import type { Config } from '../../config';
import type { Cleanup } from '../cleanup';
import { startChild, type Child } from '../children';
import { log } from '../progress';
import { childEnv } from '../env';

const READY_TIMEOUT_MS = 180_000;

export interface References {
  server: Child;
  worker: Child;
  /** No middleware: POST /grab/:id and /traditional/:id with x-user-id. */
  bareUrl: string;
  /** The service's app and middleware, serving only the traditional grab (TRADITIONAL_PATH). */
  fullUrl: string;
  /** Task queue of the bench workflows. */
  taskQueue: string;
}

interface Ready {
  kind: 'ready';
  barePort?: number;
  fullPort?: number;
}

const isReady = (message: unknown): message is Ready =>
  typeof message === 'object' && message !== null && (message as { kind?: unknown }).kind === 'ready';

export async function startReferences(config: Config, runId: string, cleanup: Cleanup): Promise<References> {
  const taskQueue = `bench-ref-${runId}`;
  const server = startChild({
    name: 'reference',
    entry: 'bench/servers/reference.ts',
    env: childEnv(config, 0),
  });
  cleanup.add('stop the reference server', () => server.stop());
  const worker = startChild({
    name: 'refWorker',
    entry: 'bench/servers/refWorker.ts',
    env: { ...childEnv(config, 0), TEMPORAL_TASK_QUEUE: taskQueue },
  });
  cleanup.add('stop the bench worker', () => worker.stop());
  const [ports] = await Promise.all([
    server.message(isReady, READY_TIMEOUT_MS),
    worker.message(isReady, READY_TIMEOUT_MS),
  ]);
  if (!ports.barePort || !ports.fullPort) throw new Error('the reference server announced no ports');
  log(`reference servers (pid ${server.pid}) and bench worker (pid ${worker.pid}) ready`);
  return {
    server,
    worker,
    bareUrl: `http://127.0.0.1:${ports.barePort}`,
    fullUrl: `http://127.0.0.1:${ports.fullPort}`,
    taskQueue,
  };
}
