/**
 * `npm run redis:cluster -- [--port 7100] [--node-timeout-ms 1000]`: a local Redis Cluster (three masters,
 * three replicas, scripts/lib/redisCluster.ts) in the foreground, for `npm run dev`, the bench or a manual
 * failover. It prints the REDIS_URL to give the service and stops every node (and removes their files) on
 * Ctrl-C. Example, the storm and spread bench on a cluster:
 *
 *   npm run redis:cluster &   # prints REDIS_URL=redis+cluster://127.0.0.1:7100,...
 *   REDIS_URL=redis+cluster://127.0.0.1:7100,127.0.0.1:7101,127.0.0.1:7102 npm run bench -- --only storm,spread
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePortBlock, startRedisCluster } from './lib/redisCluster';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '7100' },
      'node-timeout-ms': { type: 'string', default: '1000' },
    },
  });
  const from = Number(values.port);
  const nodeTimeoutMs = Number(values['node-timeout-ms']);
  if (!Number.isInteger(from) || from < 1 || from > 55_529 || !(nodeTimeoutMs >= 100))
    throw new Error('usage: npm run redis:cluster -- [--port 7100] [--node-timeout-ms 1000]');
  // Listened for from the start, so a Ctrl-C while the nodes start still stops them.
  const stopRequested = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  const basePort = await freePortBlock(from, from + 100);
  const cluster = await startRedisCluster({
    basePort,
    dir: join(tmpdir(), `rcluster-dev-${basePort}`),
    nodeTimeoutMs,
  });
  process.stdout.write(
    `Redis Cluster up in ${cluster.startMs} ms, masters ${(await cluster.masters()).join(', ')}\n` +
      `REDIS_URL=${cluster.url}\n(Ctrl-C stops it and removes its files)\n`,
  );
  await stopRequested;
  await cluster.stop();
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
