/**
 * What global setup hands to the test files, passed through one environment variable because Jest workers
 * are separate processes that inherit the environment and nothing else.
 */
export interface RunState {
  runId: string;
  databaseUrl: string;
  redisKeyPrefix: string;
  /** Set when the run's Redis is a Redis Cluster that global setup started (REDPACKET_TEST_REDIS=cluster). */
  redisUrl?: string | undefined;
  /** Ports of that cluster's nodes (chaos and failover tests kill them by port). */
  redisClusterPorts?: number[] | undefined;
  temporalAddress: string;
  bundlePath: string;
  devServerPid?: number | undefined;
}

const VARIABLE = 'REDPACKET_TEST_RUN';

export function setRunState(state: RunState): void {
  process.env[VARIABLE] = JSON.stringify(state);
}

export function getRunState(): RunState {
  const raw = process.env[VARIABLE];
  if (!raw)
    throw new Error(`${VARIABLE} is not set: run the tests through jest (npm test), which runs global setup`);
  return JSON.parse(raw) as RunState;
}
