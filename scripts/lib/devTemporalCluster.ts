/**
 * `npm run dev -- --temporal cluster`: the service on the two-node Temporal server on Postgres
 * (scripts/lib/temporalCluster.ts) instead of the dev server. Its databases (`tcluster_dev`,
 * `tcluster_dev_visibility`) persist like the dev server's SQLite file, so workflows survive a restart; its
 * config files and the nodes' logs are in the system temp directory (`tcluster-dev/`). It has no Web UI:
 * the UI ships inside the CLI's dev server only.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../../config';
import { CLUSTER_PORT_BASES, startTemporalCluster, type TemporalCluster } from './temporalCluster';
import { findTemporalServer } from './temporalServer';

export type TemporalMode = 'dev' | 'cluster';

/** `--temporal cluster` (or `--temporal=cluster`); `dev`, the default, is the CLI's dev server. */
export function temporalFlag(argv: readonly string[]): TemporalMode {
  const index = argv.findIndex((arg) => arg === '--temporal' || arg.startsWith('--temporal='));
  if (index < 0) return 'dev';
  const arg = argv[index]!;
  const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[index + 1];
  if (value !== 'dev' && value !== 'cluster')
    throw new Error(`--temporal takes dev or cluster, not ${value}`);
  return value;
}

export async function startDevTemporalCluster(
  config: Config,
  cliPath: string,
  log: (line: string) => void,
): Promise<TemporalCluster> {
  const dir = join(tmpdir(), 'tcluster-dev');
  log(`starting the two-node Temporal server (config and logs in ${dir})`);
  return startTemporalCluster({
    binaries: findTemporalServer(log),
    cliPath,
    postgresUrl: config.database.url,
    databaseName: 'tcluster_dev',
    portBase: CLUSTER_PORT_BASES.dev,
    dir,
    namespaces: [config.temporal.namespace],
    log,
  });
}
