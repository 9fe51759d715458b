/**
 * The world of `npm run chaos -- --cells` (docs/chaos.md "Region outage (--cells)"): two cells, n and s, as
 * the multi-cell dev mode lays them out (scripts/lib/devCells.ts: a database `redpacket_<cell>`, Redis prefix
 * `rp:<cell>:`, Temporal namespace `rp-<cell>`, its own task queue), on the chaos run's private Postgres,
 * Redis and Temporal dev server. Each cell's worker and API reach their Postgres, Redis and Temporal only
 * through three TCP proxies of that cell, so cutting the three cuts the cell off as a region outage would,
 * while the other cell and the driver's direct connections (used to judge) are untouched. One API process per
 * cell, without HAProxy: the outage concerns what one cell sees of the other, not stickiness inside a cell.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../bench/children';
import type { Cleanup } from '../bench/cleanup';
import { childEnv } from '../bench/env';
import { log, sleep } from '../bench/progress';
import { loadConfig, type Config } from '../config';
import { createDb, type Db } from '../db';
import { ensureDatabase } from '../db/admin';
import { migrate } from '../db/migrate';
import { API_NODE_ARGS } from '../scripts/lib/nodeArgs';
import { freePort, withDatabase } from '../scripts/lib/isolation';
import { startTcpProxy, type TcpProxy } from '../scripts/lib/tcpProxy';
import { ensureNamespace, findTemporalCli, registerSearchAttributes } from '../scripts/lib/temporalCli';
import { createTemporal, type TemporalDeps } from '../temporal/client';
import type { PatroniPair } from '../scripts/lib/patroni';
import { startChaosPair } from './cellsFailover';
import type { FailoverKind } from './options';
import { apiListening, NodeComponent, TemporalComponent } from './components';
import { PrivatePostgres, PrivateRedis } from './servers';
import { workerReady } from './world';

export const CELL_NAMES = ['n', 's'] as const;
export type CellName = (typeof CELL_NAMES)[number];

const ENTRIES = { api: 'dist/api/server.js', worker: 'dist/workers/main.js' };
/** As in the single-cell world: short enough that the cut raises CreditStuck, which must clear after it. */
const CREDIT_STUCK_AFTER_MS = '1500';
const SEARCH_ATTRIBUTE_ATTEMPTS = 20;

export interface ChaosCell {
  name: CellName;
  url: string;
  /** The driver's and checker's view of the cell: direct connections, never through the proxies. */
  config: Config;
  db: Db;
  temporal: TemporalDeps;
  api: NodeComponent;
  worker: NodeComponent;
  proxies: { postgres: TcpProxy; redis: TcpProxy; temporal: TcpProxy };
}

export interface CellsWorld {
  runId: string;
  dir: string;
  secret: string;
  cells: Record<CellName, ChaosCell>;
  temporalServer: TemporalComponent;
  /** With --failover: the Patroni pair under the cell it breaks. */
  pair?: PatroniPair;
}

interface Placement {
  db: string;
  redis: string;
  temporal: string;
}

function cellConfig(runId: string, secret: string, cell: CellName, at: Placement) {
  return loadConfig({
    NODE_ENV: 'production',
    DATABASE_URL: at.db,
    DATABASE_SCHEMA: 'public',
    REDIS_URL: at.redis,
    REDIS_KEY_PREFIX: `rp:${cell}:`,
    TEMPORAL_ADDRESS: at.temporal,
    TEMPORAL_NAMESPACE: `rp-${cell}`,
    TEMPORAL_TASK_QUEUE: `chaos-${runId}-${cell}`,
    AUTH_SECRET: secret,
    PACKET_MIN_EXPIRY_SECONDS: '1',
  });
}

/** A namespace just created takes a moment before it accepts search attributes (as in prepareCell). */
async function registerWithRetry(cli: string, address: string, namespace: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      registerSearchAttributes(cli, address, namespace);
      return;
    } catch (err) {
      if (attempt >= SEARCH_ATTRIBUTE_ATTEMPTS) throw err;
      await sleep(500);
    }
  }
}

interface Shared {
  runId: string;
  secret: string;
  internalToken: string;
  /** Each cell's Postgres: the private server, or a Patroni pair's HAProxy front (--failover). */
  postgres: Record<CellName, { url: string; port: number }>;
  redis: PrivateRedis;
  temporalAddress: string;
  ports: Record<CellName, number>;
}

async function buildCell(name: CellName, shared: Shared, cleanup: Cleanup): Promise<ChaosCell> {
  const { runId, secret, redis } = shared;
  const postgres = shared.postgres[name];
  const dbUrl = withDatabase(postgres.url, `redpacket_${name}`);
  const temporalPort = Number(shared.temporalAddress.split(':').pop());
  const proxies = {
    postgres: await startTcpProxy('127.0.0.1', postgres.port),
    redis: await startTcpProxy('127.0.0.1', redis.port),
    temporal: await startTcpProxy('127.0.0.1', temporalPort),
  };
  cleanup.add(`close cell ${name}'s proxies`, async () => {
    await Promise.all(Object.values(proxies).map((proxy) => proxy.close()));
  });
  const direct = { db: dbUrl, redis: redis.url, temporal: shared.temporalAddress };
  const config = cellConfig(runId, secret, name, direct);
  const proxied = cellConfig(runId, secret, name, {
    db: withDatabase(`postgres://postgres@127.0.0.1:${proxies.postgres.port}/redpacket`, `redpacket_${name}`),
    redis: `redis://127.0.0.1:${proxies.redis.port}`,
    temporal: `127.0.0.1:${proxies.temporal.port}`,
  });
  await ensureDatabase(dbUrl);
  const db = createDb(config, { applicationName: `redpacket-chaos-${name}` });
  await migrate(db);
  const temporal = createTemporal(config);
  cleanup.add(`close cell ${name}'s driver clients`, async () => {
    await Promise.allSettled([db.close(), temporal.close()]);
  });

  const port = shared.ports[name];
  const others = CELL_NAMES.filter((other) => other !== name);
  const cellEnv = {
    REGION: name,
    CELLS: CELL_NAMES.join(','),
    CELL_URLS: others.map((other) => `${other}=http://127.0.0.1:${shared.ports[other]}`).join(','),
    CELL_INTERNAL_TOKEN: shared.internalToken,
    CREDIT_STUCK_AFTER_MS,
    LOG_LEVEL: 'error',
  };
  const env = { ...childEnv(proxied, port), ...cellEnv };
  const worker = new NodeComponent(
    `worker-${name}`,
    { name: `worker-${name}`, entry: ENTRIES.worker, env },
    // The self-check runs through the driver's direct client; the worker itself polls through its proxy.
    workerReady(temporal, config, `${runId}-${name}`, 0),
  );
  const url = `http://127.0.0.1:${port}`;
  const api = new NodeComponent(
    `api-${name}`,
    { name: `api-${name}`, entry: ENTRIES.api, env, nodeArgs: [...API_NODE_ARGS] },
    apiListening(url),
  );
  for (const component of [worker, api]) cleanup.add(`stop ${component.name}`, () => component.stop());
  return { name, url, config, db, temporal, api, worker, proxies };
}

export async function buildCellsWorld(
  cleanup: Cleanup,
  failover?: { cell: CellName; kind: FailoverKind },
): Promise<CellsWorld> {
  const missing = Object.values(ENTRIES).filter((entry) => !existsSync(join(ROOT, entry)));
  if (missing.length > 0) throw new Error(`${missing.join(', ')} missing: run \`npm run build\` first.`);
  const runId = `${Date.now().toString(36)}${process.pid.toString(36)}`;
  const dir = mkdtempSync(join(tmpdir(), 'redpacket-chaos-cells-'));
  cleanup.add('remove the run directory', () =>
    Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  );
  const [pgPort, redisPort, temporalPort, nPort, sPort] = await Promise.all(
    [1, 2, 3, 4, 5].map(() => freePort()),
  );
  const postgres = new PrivatePostgres(dir, pgPort as number);
  await postgres.init(dir);
  await postgres.start();
  cleanup.add('stop the private Postgres', () => postgres.stop());
  const redis = new PrivateRedis(dir, redisPort as number);
  await redis.start();
  cleanup.add('stop the private Redis', () => redis.kill());

  const cli = await findTemporalCli(loadConfig().temporal.cliPath, log);
  const temporalServer = new TemporalComponent({
    cliPath: cli,
    port: temporalPort as number,
    dbFile: join(dir, 'temporal.sqlite'),
    namespace: 'rp-n',
    logFile: join(dir, 'temporal.log'),
  });
  await temporalServer.start();
  cleanup.add('stop the Temporal dev server', () => temporalServer.stop());
  for (const name of CELL_NAMES) {
    ensureNamespace(cli, temporalServer.address, `rp-${name}`);
    await registerWithRetry(cli, temporalServer.address, `rp-${name}`);
  }
  log(`private Postgres on ${pgPort}, Redis on ${redisPort}, Temporal on ${temporalServer.address}`);

  const pair = failover ? await startChaosPair(failover.cell, failover.kind, cleanup) : undefined;
  const privatePg = { url: postgres.url, port: postgres.port };
  const pairPg = pair && { url: pair.databaseUrl(), port: pair.frontPort };
  const shared: Shared = {
    runId,
    secret: randomBytes(24).toString('hex'),
    internalToken: randomBytes(24).toString('base64url'),
    postgres: {
      n: failover?.cell === 'n' && pairPg ? pairPg : privatePg,
      s: failover?.cell === 's' && pairPg ? pairPg : privatePg,
    },
    redis,
    temporalAddress: temporalServer.address,
    ports: { n: nPort as number, s: sPort as number },
  };
  const n = await buildCell('n', shared, cleanup);
  const s = await buildCell('s', shared, cleanup);
  await Promise.all([n, s].flatMap((cell) => [cell.worker.start(), cell.api.start()]));
  log(`cells ready: n at ${n.url}, s at ${s.url} (run ${runId})`);
  return { runId, dir, secret: shared.secret, cells: { n, s }, temporalServer, ...(pair ? { pair } : {}) };
}

/** Cuts (or restores) everything the cell's processes reach: its Postgres, Redis and Temporal. */
export function cutCell(cell: ChaosCell, cut: boolean): void {
  for (const proxy of Object.values(cell.proxies)) {
    if (cut) proxy.cut();
    else proxy.restore();
  }
}
