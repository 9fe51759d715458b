/**
 * `npm run dev -- --cells n,s --ha`: the multi-cell dev mode with each cell's Postgres as a Patroni pair
 * (docs/failover.md): one etcd for the machine, and per cell a primary, a synchronous standby and HAProxy in
 * front, instead of a database on the local server. The cell's processes get the pair's HAProxy as their
 * DATABASE_URL (database `redpacket_<cell>`, created there), so `patronictl` switchovers and killed members
 * can be tried against the running service.
 *
 * Ports: etcd 15400-15401; cell i's pair from 15410 + 10 i (Postgres, REST APIs, HAProxy). Data under
 * /tmp/failover-dev-*, removed when dev stops.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDatabase } from '../../db/admin';
import type { CellPlan } from './devCells';
import { startEtcd } from './etcd';
import { startPatroniPair, type PatroniPair } from './patroni';

const ETCD_PORTS = { client: 15400, peer: 15401 };
const FIRST_PAIR_PORT = 15410;
const PORTS_PER_CELL = 10;

/** True with `--ha` (only meaningful with --cells). */
export function haFlag(argv: readonly string[]): boolean {
  return argv.includes('--ha');
}

/** The database URL `url` names, moved to the pair's HAProxy (same database name). */
function onPair(url: string, pair: PatroniPair): string {
  return pair.databaseUrl(new URL(url).pathname.slice(1));
}

/**
 * Starts etcd and a pair per cell, points each plan's DATABASE_URL (and CELL_DATABASE_URLS) at its pair and
 * creates the databases there. Returns how to stop it all.
 */
export async function startCellPairs(
  plans: CellPlan[],
  log: (line: string) => void,
): Promise<() => Promise<void>> {
  const dir = mkdtempSync('/tmp/failover-dev-');
  // mkdtemp makes it 0700; as root, Patroni runs as postgres and must reach its directories below.
  chmodSync(dir, 0o755);
  const etcd = await startEtcd({
    clientPort: ETCD_PORTS.client,
    peerPort: ETCD_PORTS.peer,
    dir: join(dir, 'etcd'),
  });
  const pairs: PatroniPair[] = [];
  const stop = async () => {
    await Promise.all(pairs.map((pair) => pair.stop()));
    await etcd.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const [index, plan] of plans.entries()) {
      const pair = await startPatroniPair({
        cell: plan.cell,
        etcdHost: etcd.host,
        basePort: FIRST_PAIR_PORT + PORTS_PER_CELL * index,
        dir: join(dir, plan.cell),
      });
      pairs.push(pair);
      log(
        `cell ${plan.cell}: Patroni pair ${pair.members.map((m) => m.name).join(', ')}, HAProxy on ${pair.frontPort}; ` +
          `patronictl -c ${pair.members[0]!.configFile} list`,
      );
    }
    const byCell = new Map(plans.map((plan, index) => [plan.cell, pairs[index]!]));
    for (const plan of plans) {
      plan.env['DATABASE_URL'] = onPair(plan.env['DATABASE_URL']!, byCell.get(plan.cell)!);
      await ensureDatabase(plan.env['DATABASE_URL']);
      const all = plan.env['CELL_DATABASE_URLS'];
      if (all)
        plan.env['CELL_DATABASE_URLS'] = all
          .split(',')
          .map((entry) => {
            const cell = entry.slice(0, entry.indexOf('='));
            return `${cell}=${onPair(entry.slice(cell.length + 1), byCell.get(cell)!)}`;
          })
          .join(',');
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return stop;
}
