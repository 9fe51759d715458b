/**
 * Global setup of the cluster test run (jest.cluster.config.js): the two-node Temporal server on Postgres
 * (scripts/lib/temporalCluster.ts) instead of the dev server, then the usual setup pointed at it through
 * TEMPORAL_ADDRESS. The server is built once into ~/.cache/redpacket/temporal-server/ when missing.
 */
import { loadConfig } from '../../config';
import { ensurePostgres } from '../../scripts/lib/services';
import { findTemporalCli } from '../../scripts/lib/temporalCli';
import {
  CLUSTER_PORT_BASES,
  startTemporalCluster,
  type TemporalCluster,
} from '../../scripts/lib/temporalCluster';
import { findTemporalServer } from '../../scripts/lib/temporalServer';
import globalSetup from './globalSetup';

export default async function clusterGlobalSetup(): Promise<void> {
  const log = (line: string) => process.stderr.write(`[cluster setup] ${line}\n`);
  const config = loadConfig({ NODE_ENV: 'test' });
  await ensurePostgres(config, log);
  const runId = `${Date.now().toString(36)}${process.pid.toString(36)}`;
  const cluster = await startTemporalCluster({
    binaries: findTemporalServer(log),
    cliPath: await findTemporalCli(config.temporal.cliPath, log),
    postgresUrl: config.database.url,
    databaseName: `tcluster_t${runId}`,
    portBase: CLUSTER_PORT_BASES.testRun,
    dir: `/tmp/tcluster-test-${runId}`,
    namespaces: [config.temporal.namespace],
    log,
    throwaway: true,
  });
  (globalThis as { __temporalCluster?: TemporalCluster }).__temporalCluster = cluster;
  process.env.TEMPORAL_ADDRESS = cluster.address;
  try {
    await globalSetup();
  } catch (err) {
    await cluster.destroy();
    throw err;
  }
}
