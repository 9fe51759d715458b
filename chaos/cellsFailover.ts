/**
 * Database failover faults of `npm run chaos -- --cells --failover <kind>` (docs/failover.md, docs/chaos.md
 * "Failover faults"). One cell's Postgres is a real Patroni pair (scripts/lib/patroni.ts: a primary and a
 * synchronous standby, etcd, HAProxy choosing the leader); at the seeded moment, instead of the region cut,
 * the run breaks it:
 *
 * - `primary-crash`: SIGKILL of the primary's Postgres; Patroni fails over to the synchronous standby;
 * - `host-kill`: SIGKILL of the primary's Patroni and Postgres (the host is gone); the leader key expires, the
 *   standby leads, and the old host is started again and rejoins as the standby;
 * - `standby-loss`: SIGKILL of the standby's host; the primary goes on committing alone (not strict), and the
 *   standby, started again after STANDBY_DOWN_MS, catches up;
 * - `async-crash`: `primary-crash` with synchronous_mode off; the acknowledged operations lost are counted (the
 *   measured RPO) instead of failing the run, and the audits must still balance.
 *
 * Ports 15480-15486 (etcd 15480-15481, the pair 15482-15486); data under /tmp/failover-chaos-*.
 */
import { chmodSync, mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cleanup } from '../bench/cleanup';
import { log, sleep } from '../bench/progress';
import { startEtcd } from '../scripts/lib/etcd';
import { startPatroniPair, type PatroniPair } from '../scripts/lib/patroni';
import { invariant, type Invariant } from './checker';
import { ownerOf } from './cellsCheck';
import type { CellName } from './cellsWorld';
import type { History } from './history';
import type { FailoverKind } from './options';

const ETCD_PORTS = { client: 15480, peer: 15481 };
const PAIR_BASE_PORT = 15482;
/** How long the standby's host stays down in `standby-loss`. */
const STANDBY_DOWN_MS = 15_000;
/** The goal for kill -> first successful open. */
export const FAILOVER_GOAL_MS = 30_000;

export async function startChaosPair(
  cell: CellName,
  kind: FailoverKind,
  cleanup: Cleanup,
): Promise<PatroniPair> {
  const dir = mkdtempSync('/tmp/failover-chaos-');
  // mkdtemp makes it 0700; Patroni runs as postgres when we are root and must reach its directory below.
  chmodSync(dir, 0o755);
  const etcd = await startEtcd({
    clientPort: ETCD_PORTS.client,
    peerPort: ETCD_PORTS.peer,
    dir: join(dir, 'etcd'),
  });
  cleanup.add('stop etcd', () => etcd.stop());
  const pair = await startPatroniPair({
    cell,
    etcdHost: etcd.host,
    basePort: PAIR_BASE_PORT,
    dir: join(dir, 'pair'),
    synchronous: kind !== 'async-crash',
  });
  cleanup.add(`stop cell ${cell}'s Patroni pair`, () => pair.stop());
  log(
    `cell ${cell}'s Postgres: Patroni pair ${pair.members.map((m) => m.name).join(', ')} behind :${pair.frontPort}`,
  );
  return pair;
}

export interface FailoverWindow {
  kind: FailoverKind;
  startMs: number;
  /** When the pair was whole again: a leader and a streaming standby. */
  endMs: number;
  leaderBefore: string;
  leaderAfter: string;
  standbyAfter: string;
  /** Whether Patroni ran pg_rewind on the member that rejoined. */
  rewound: boolean;
}

export async function injectFailover(pair: PatroniPair, kind: FailoverKind): Promise<FailoverWindow> {
  const before = await pair.waitHealthy(30_000);
  const startMs = Date.now();
  const victim = kind === 'standby-loss' ? before.standby : before.leader;
  if (kind === 'host-kill' || kind === 'standby-loss') pair.killHost(victim);
  else pair.killPostgres(victim);
  log(
    `${kind}: SIGKILL of ${victim.name}${kind === 'primary-crash' || kind === 'async-crash' ? "'s Postgres" : "'s host"}`,
  );
  if (kind !== 'standby-loss') {
    // Patroni needs a moment to notice: until another member leads, the old view is still reported.
    for (;;) {
      const leader = (await pair.cluster().catch(() => [])).find((m) => m.role === 'leader');
      if (leader && leader.name !== victim.name && leader.state === 'running') break;
      await sleep(250);
    }
    // A lost host comes back once the standby leads, as an operator would restart it.
    if (kind === 'host-kill') pair.startMember(victim);
  } else {
    await sleep(STANDBY_DOWN_MS);
    pair.startMember(victim);
  }
  const after = await pair.waitHealthy(120_000);
  const endMs = Date.now();
  const memberLog = join(victim.dir, '..', `${victim.name}.log`);
  let rewound = false;
  try {
    rewound = /pg_rewind|running rewind/i.test(readFileSync(memberLog, 'utf8'));
  } catch {
    // no log: nothing to say about a rewind
  }
  log(
    `${kind}: pair whole again after ${((endMs - startMs) / 1000).toFixed(1)} s: ${after.leader.name} leads`,
  );
  return {
    kind,
    startMs,
    endMs,
    leaderBefore: before.leader.name,
    leaderAfter: after.leader.name,
    standbyAfter: after.standby.name,
    rewound,
  };
}

export interface FailoverFigures extends FailoverWindow {
  cell: CellName;
  /** Fault -> the first open of the cell's packets sent after the fault and answered 200. */
  firstOpenMs: number | null;
  /** Fault -> the first send or open the cell owns, sent after the fault and acknowledged. */
  firstWriteMs: number | null;
  /** The cell's requests answered 503 between the fault and the pair being whole. */
  refused503: number;
  /** async-crash: acknowledged operations the checker found missing (the measured RPO), else 0. */
  lostAcknowledged: number;
}

export function judgeFailover(
  history: History,
  cell: CellName,
  window: FailoverWindow,
): { figures: Omit<FailoverFigures, 'lostAcknowledged'>; invariants: Invariant[] } {
  const after = history.ops.filter((op) => ownerOf(op) === cell && op.invokedMs >= window.startMs);
  const firstDone = (ok: (op: (typeof after)[number]) => boolean) => {
    const done = after.filter(ok).map((op) => op.doneMs - window.startMs);
    return done.length ? Math.min(...done) : null;
  };
  const firstOpenMs = firstDone((op) => op.kind === 'open' && op.status === 200);
  const firstWriteMs = firstDone(
    (op) => (op.kind === 'open' && op.status === 200) || (op.kind === 'send' && op.status === 201),
  );
  const refused503 = after.filter((op) => op.status === 503 && op.doneMs <= window.endMs).length;
  const figures = { ...window, cell, firstOpenMs, firstWriteMs, refused503 };
  const invariants = [
    window.kind === 'standby-loss'
      ? invariant(
          'primary_commits_without_standby',
          `with its standby gone, cell ${cell}'s primary acknowledges writes before the standby returns`,
          firstWriteMs !== null && firstWriteMs < STANDBY_DOWN_MS
            ? []
            : [`first write after ${firstWriteMs} ms`],
        )
      : invariant(
          'failover_within_goal',
          `fault -> first successful open of cell ${cell} under ${FAILOVER_GOAL_MS / 1000} s`,
          firstOpenMs !== null && firstOpenMs < FAILOVER_GOAL_MS
            ? []
            : [`first open after ${firstOpenMs} ms`],
          `${firstOpenMs} ms`,
        ),
    invariant(
      'pair_whole_again',
      'the pair has a leader and a streaming standby again (the lost member rejoined)',
      window.leaderAfter && window.standbyAfter ? [] : ['no leader and standby'],
      `${window.leaderAfter} leads, ${window.standbyAfter} follows${window.rewound ? ' (pg_rewind ran)' : ''}`,
    ),
  ];
  return { figures, invariants };
}

/** Checks about acknowledged operations: lost ones are the measured RPO in the asynchronous variant. */
const ACKNOWLEDGED_CHECKS = /^(deposits_exact|open_ok_one_claim_one_credit|send_201_paid_once)$/;

/**
 * In `async-crash`, losing acknowledged operations is what is measured, not a failure: those invariants are
 * kept in the report, passed, with the count in their note. Every other invariant (audits) still judges.
 */
export function asRpo(invariants: Invariant[]): { invariants: Invariant[]; lost: number } {
  let lost = 0;
  const out = invariants.map((inv) => {
    if (inv.ok || !ACKNOWLEDGED_CHECKS.test(inv.name)) return inv;
    lost += inv.offending.length;
    return {
      ...inv,
      ok: true,
      note: `RPO (asynchronous): ${inv.offending.length} lost: ${inv.offending.slice(0, 3).join('; ')}`,
    };
  });
  return { invariants: out, lost };
}
