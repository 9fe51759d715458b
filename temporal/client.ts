/**
 * The Temporal client side (API, scripts, tests). The connection is lazy so the API starts, and reports
 * not-ready, while Temporal is still coming up instead of refusing to start.
 */
import { Client, Connection } from '@temporalio/client';
import type { Config } from '../config';
import type { Tracing } from '../tracing';

export interface TemporalDeps {
  client: Client;
  connection: Connection;
  taskQueue: string;
  close(): Promise<void>;
}

/**
 * With `tracing` (on only when an OTLP endpoint is configured) every workflow call is a span whose context
 * travels in the call's headers to the workflow; without it the client has no interceptors at all.
 */
export function createTemporal(config: Pick<Config, 'temporal'>, tracing?: Tracing): TemporalDeps {
  const connection = Connection.lazy({ address: config.temporal.address, connectTimeout: 2_000 });
  const client = new Client({
    connection,
    namespace: config.temporal.namespace,
    ...(tracing ? { interceptors: tracing.clientInterceptors() } : {}),
  });
  return { client, connection, taskQueue: config.temporal.taskQueue, close: () => connection.close() };
}

/** Resolves when the Temporal frontend answers a cheap call within the deadline. */
export async function pingTemporal(temporal: TemporalDeps, timeoutMs: number): Promise<void> {
  await temporal.connection.withDeadline(Date.now() + timeoutMs, () =>
    temporal.connection.workflowService.getSystemInfo({}),
  );
}
