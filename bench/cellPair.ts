/**
 * The bench's two-cell service (issue 27, `--only cells`): cells n and s laid out as the multi-cell dev mode
 * lays them (scripts/lib/devCells.ts), on the bench's own Postgres server, Redis and Temporal dev server: per
 * cell a fresh database, a key prefix, a namespace `rp-<cell>`, a task queue, one worker and one API, each
 * child started with compose's environment (bench/env.ts) plus the cell's placement (CELL_PLACEMENT_VARIABLES). The
 * single-cell service stays up, idle, so the two are measured on the same machine in the same run.
 */
import { randomBytes } from 'node:crypto';
import type { Config } from '../config';
import { createDb, type Db } from '../db';
import { dropDatabase, ensureDatabase } from '../db/admin';
import { migrate } from '../db/migrate';
import { createRedis, deleteByPrefix } from '../redis';
import { freePort, withDatabase } from '../scripts/lib/isolation';
import { ensureNamespace, registerSearchAttributes } from '../scripts/lib/temporalCli';
import { createTemporal, type TemporalDeps } from '../temporal/client';
import type { Child } from './children';
import type { Cleanup } from './cleanup';
import { cellServiceEnv, configOf } from './env';
import { log, sleep } from './progress';
import { startServiceChildren, waitForApi, waitForWorker } from './world';

export const BENCH_CELLS = ['n', 's'] as const;
export type BenchCell = (typeof BENCH_CELLS)[number];

const SEARCH_ATTRIBUTE_ATTEMPTS = 20;

export interface BenchCellService {
  cell: BenchCell;
  url: string;
  config: Config;
  db: Db;
  temporal: TemporalDeps;
  api: Child;
  worker: Child;
}

export type CellPair = Record<BenchCell, BenchCellService>;

export interface PairPlan {
  runId: string;
  base: Config;
  cliPath: string;
  temporalAddress: string;
}

/** A namespace just created takes a moment before it accepts search attributes. */
export async function prepareNamespace(
  plan: Pick<PairPlan, 'cliPath' | 'temporalAddress'>,
  namespace: string,
): Promise<void> {
  ensureNamespace(plan.cliPath, plan.temporalAddress, namespace);
  for (let attempt = 1; ; attempt++) {
    try {
      return registerSearchAttributes(plan.cliPath, plan.temporalAddress, namespace);
    } catch (err) {
      if (attempt >= SEARCH_ATTRIBUTE_ATTEMPTS) throw err;
      await sleep(500);
    }
  }
}

/** The placement of every cell: database, prefix, namespace, queue and port. */
async function placements(plan: PairPlan) {
  const ports = { n: await freePort(), s: await freePort() };
  const secret = plan.base.auth.secret;
  return BENCH_CELLS.map((cell) => {
    const placement = {
      HOST: '127.0.0.1',
      PORT: String(ports[cell]),
      DATABASE_URL: withDatabase(plan.base.database.url, `rp_bench_${plan.runId}_${cell}`),
      DATABASE_SCHEMA: 'public',
      REDIS_URL: plan.base.redis.url,
      REDIS_KEY_PREFIX: `rp:bench:${plan.runId}:${cell}:`,
      TEMPORAL_ADDRESS: plan.temporalAddress,
      TEMPORAL_NAMESPACE: `rp-${cell}`,
      TEMPORAL_TASK_QUEUE: `bench-${plan.runId}-${cell}`,
      AUTH_SECRET: secret,
    };
    return { cell, port: ports[cell], placement, ports };
  });
}

/**
 * Starts both cells and waits until each API answers /readyz and each worker has run its self-check. The
 * single-cell service's AUTH_SECRET is reused, so one set of bench tokens works on every cell.
 */
export async function startCellPair(plan: PairPlan, cleanup: Cleanup): Promise<CellPair> {
  const internalToken = randomBytes(24).toString('base64url');
  const planned = await placements(plan);
  const databaseUrls = planned.map(({ cell, placement }) => `${cell}=${placement.DATABASE_URL}`).join(',');
  const pair: Partial<CellPair> = {};
  for (const { cell, port, placement, ports } of planned) {
    const cellEnv = {
      REGION: cell,
      CELLS: BENCH_CELLS.join(','),
      CELL_URLS: BENCH_CELLS.filter((other) => other !== cell)
        .map((other) => `${other}=http://127.0.0.1:${ports[other]}`)
        .join(','),
      CELL_INTERNAL_TOKEN: internalToken,
      // As in the dev mode: the first cell's reconciler runs the pair audit over every cell's database.
      ...(cell === BENCH_CELLS[0] ? { CELL_DATABASE_URLS: databaseUrls } : {}),
      WORKER_METRICS_PORT: String(await freePort()),
      TEMPORAL_METRICS_PORT: String(await freePort()),
    };
    const config = configOf({ ...placement, ...cellEnv });
    await ensureDatabase(config.database.url);
    cleanup.add(`drop cell ${cell}'s bench database`, () => dropDatabase(config.database.url));
    cleanup.add(`delete cell ${cell}'s bench Redis keys`, async () => {
      const redis = createRedis(config, { lazyConnect: true });
      try {
        await redis.client.connect();
        await deleteByPrefix(redis.client, redis.keys);
      } finally {
        await redis.close();
      }
    });
    const db = createDb(config, { applicationName: `redpacket-bench-${cell}` });
    await migrate(db);
    await prepareNamespace(plan, config.temporal.namespace);
    const temporal = createTemporal(config);
    cleanup.add(`close cell ${cell}'s bench clients`, async () => {
      await Promise.allSettled([temporal.close(), db.close()]);
    });
    const childEnv = (service: 'api' | 'worker') => cellServiceEnv(service, config, port, cellEnv);
    const { api, worker } = startServiceChildren(cell, `cell ${cell}'s`, childEnv, cleanup);
    pair[cell] = { cell, url: `http://127.0.0.1:${port}`, config, db, temporal, api, worker };
  }
  const cells = pair as CellPair;
  await Promise.all(
    BENCH_CELLS.flatMap((cell) => [
      waitForApi(cells[cell].url, cells[cell].api),
      waitForWorker(cells[cell].temporal, cells[cell].config, `${plan.runId}-${cell}`, cells[cell].worker),
    ]),
  );
  log(`cells ready: n at ${cells.n.url}, s at ${cells.s.url}`);
  return cells;
}
