/**
 * Multi-cell dev mode (`npm run dev -- --cells n,s`, docs/cells.md "Multi-cell dev mode"): every cell of the
 * list on this machine, as separate as one machine allows. Per cell: its own Postgres database on the local
 * server (`<database>_<cell>`, migrated), its own Redis key prefix (`rp:<cell>:`), its own Temporal namespace
 * `rp-<cell>` (created, with the search attributes) and task queue on the one dev server, one worker, two
 * API processes and HAProxy in front of them as the cell's entry. Ports: cell i's entry is PORT + 10 i, its
 * API processes the two after it (3000, 3001, 3002 for the first cell; 3010, 3011, 3012 for the second).
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Config } from '../../config';
import { createDb } from '../../db';
import { ensureDatabase } from '../../db/admin';
import { migrate } from '../../db/migrate';
import { CELL_ID_PATTERN } from '../../domain/cells';
import { findHaproxy, HAPROXY_INSTALL_HINT, startHaproxy, type RunningHaproxy } from './haproxy';
import { ensureNamespace, registerSearchAttributes } from './temporalCli';

/** API processes per cell: two, so that sticky routing between them is exercised. */
export const API_PROCESSES_PER_CELL = 2;
const PORTS_PER_CELL = 10;

export interface CellPlan {
  cell: string;
  entryPort: number;
  apiPorts: number[];
  /** The environment of the cell's worker and API processes (PORT is set per API process). */
  env: Record<string, string>;
}

/** The cells of `--cells n,s` (or `--cells=n,s`), or undefined without the flag. */
export function cellsFlag(argv: readonly string[]): string[] | undefined {
  const index = argv.findIndex((arg) => arg === '--cells' || arg.startsWith('--cells='));
  if (index < 0) return undefined;
  const arg = argv[index]!;
  const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[index + 1];
  const cells = (value ?? '').split(',').map((cell) => cell.trim());
  if (
    cells.length < 2 ||
    cells.some((cell) => !CELL_ID_PATTERN.test(cell)) ||
    new Set(cells).size < cells.length
  )
    throw new Error(`--cells needs two or more distinct cell ids of 1-8 [a-z0-9], e.g. --cells n,s`);
  return cells;
}

function databaseUrlOf(baseUrl: string, cell: string): string {
  const url = new URL(baseUrl);
  url.pathname = `/${url.pathname.replace(/^\//, '') || 'redpacket'}_${cell}`;
  return url.toString();
}

export function planCells(cells: string[], config: Config): CellPlan[] {
  // One secret per run: the cells of this run trust each other and nothing else.
  const internalToken = process.env['CELL_INTERNAL_TOKEN'] ?? randomBytes(24).toString('base64url');
  const entryPortOf = (index: number) => config.http.port + PORTS_PER_CELL * index;
  const urls = cells.map((cell, index) => `${cell}=http://127.0.0.1:${entryPortOf(index)}`);
  return cells.map((cell, index) => {
    const entryPort = entryPortOf(index);
    return {
      cell,
      entryPort,
      apiPorts: Array.from({ length: API_PROCESSES_PER_CELL }, (_, api) => entryPort + 1 + api),
      env: {
        REGION: cell,
        CELLS: cells.join(','),
        CELL_URLS: urls.filter((_, other) => other !== index).join(','),
        CELL_INTERNAL_TOKEN: internalToken,
        DATABASE_URL: databaseUrlOf(config.database.url, cell),
        REDIS_KEY_PREFIX: `rp:${cell}:`,
        TEMPORAL_NAMESPACE: `rp-${cell}`,
        TEMPORAL_TASK_QUEUE: `${config.temporal.taskQueue}-${cell}`,
        // A worker has two metrics ports (its own and the Temporal SDK's, 9464 and 9465 by default), so each
        // cell's pair is two above the previous cell's.
        WORKER_METRICS_PORT: String(
          config.workerMetricsPort === 0 ? 0 : config.workerMetricsPort + 2 * index,
        ),
        TEMPORAL_METRICS_PORT: String(
          config.temporalMetricsPort === 0 ? 0 : config.temporalMetricsPort + 2 * index,
        ),
        // HAProxy is the one hop in front of the API processes.
        TRUST_PROXY_HOPS: '1',
        // The first cell's workers reach every cell's database, so its reconciler runs the pair audit
        // (docs/cells.md); one cell is enough, the audit covers every pair.
        ...(index === 0
          ? {
              CELL_DATABASE_URLS: cells.map((c) => `${c}=${databaseUrlOf(config.database.url, c)}`).join(','),
            }
          : {}),
      },
    };
  });
}

/** Creates and migrates the cell's database, and its namespace with the search attributes. */
export async function prepareCell(
  plan: CellPlan,
  config: Config,
  cliPath: string,
  log: (line: string) => void,
): Promise<void> {
  const url = plan.env['DATABASE_URL']!;
  if (await ensureDatabase(url)) log(`cell ${plan.cell}: created database ${new URL(url).pathname.slice(1)}`);
  const db = createDb({ database: { ...config.database, url } }, { applicationName: 'redpacket-dev' });
  try {
    const { applied } = await migrate(db);
    log(`cell ${plan.cell}: ${applied.length ? `applied ${applied.join(', ')}` : 'migrations up to date'}`);
  } finally {
    await db.close();
  }
  const namespace = plan.env['TEMPORAL_NAMESPACE']!;
  ensureNamespace(cliPath, config.temporal.address, namespace);
  // A namespace just created takes a moment before it takes search attributes.
  for (let attempt = 1; ; attempt++) {
    try {
      registerSearchAttributes(cliPath, config.temporal.address, namespace);
      break;
    } catch (err) {
      if (attempt >= 20) throw err;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

/** The HAProxy binary; refuses with the install command when it is missing, before anything starts. */
export function requireHaproxy(): string {
  const binary = findHaproxy();
  if (!binary) throw new Error(`multi-cell dev mode needs HAProxy: ${HAPROXY_INSTALL_HINT}`);
  return binary;
}

/** Starts HAProxy in front of each cell's API processes. */
export function startEntries(plans: CellPlan[], dataDir: string): RunningHaproxy[] {
  const binary = requireHaproxy();
  return plans.map((plan) => startHaproxy(binary, plan, join(dataDir, `haproxy-${plan.cell}.cfg`)));
}
