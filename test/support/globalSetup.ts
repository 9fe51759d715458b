/**
 * Once per `npm test`: a headless Temporal dev server on a free port (or TEMPORAL_ADDRESS when given), a
 * fresh Postgres database, a Redis key prefix for the run, and the workflow bundle built once. Test files
 * read what they need from the environment this leaves for the Jest workers.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { loadConfig } from '../../config';
import { ensurePostgres, ensureRedis } from '../../scripts/lib/services';
import { findTemporalCli, registerSearchAttributes, startDevServer } from '../../scripts/lib/temporalCli';
import { WORKFLOWS_PATH } from '../../workers/createWorker';
import { setRunState, type RunState } from './runState';
import { freePort, withDatabase } from '../../scripts/lib/isolation';
import { startTestRedisCluster } from './redisCluster';

export default async function globalSetup(): Promise<void> {
  const log = (line: string) => process.stderr.write(`[test setup] ${line}\n`);
  const runId = `${Date.now().toString(36)}${process.pid.toString(36)}`;
  const base = loadConfig({ NODE_ENV: 'test' });
  const databaseUrl = withDatabase(base.database.url, `rp_test_${runId}`);
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: databaseUrl });

  await ensurePostgres(config, log);
  await ensureRedis(config, log);
  const cluster = await startTestRedisCluster(runId, log);

  const state: RunState = {
    runId,
    databaseUrl,
    redisKeyPrefix: `rp:test:${runId}:`,
    ...(cluster ? { redisUrl: cluster.url, redisClusterPorts: cluster.nodes.map((node) => node.port) } : {}),
    temporalAddress: '',
    bundlePath: '',
  };
  const cli = await findTemporalCli(config.temporal.cliPath, log);
  const external = process.env.TEMPORAL_ADDRESS;
  if (external) {
    state.temporalAddress = external;
  } else {
    const server = await startDevServer({
      cliPath: cli,
      port: await freePort(),
      namespace: config.temporal.namespace,
    });
    state.temporalAddress = server.address;
    state.devServerPid = server.child.pid;
    (globalThis as { __temporalDevServer?: typeof server }).__temporalDevServer = server;
  }
  registerSearchAttributes(cli, state.temporalAddress, config.temporal.namespace);

  const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger });
  state.bundlePath = join(tmpdir(), `redpacket-workflows-${runId}.js`);
  writeFileSync(state.bundlePath, bundle.code);

  setRunState(state);
  log(
    `Temporal ${state.temporalAddress}, database ${databaseUrl.split('/').pop()}, Redis prefix ${state.redisKeyPrefix}`,
  );
}

const noop = () => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop };
