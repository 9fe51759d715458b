/**
 * The region outage run (`npm run chaos -- --cells`) must judge what it claims to: requests are owned by the
 * cell the router sends them to, the standing cell's share of answers and the cut cell's 503s are counted
 * only for requests inside the cut, and a false answer from the cut cell fails the run. Its plan replays
 * from the seed.
 */
import { checkAllAnswered, checkNo500, judgeCut, mergeFacts, ownerOf } from '../../chaos/cellsCheck';
import { cellUsers, USERS_PER_HOME } from '../../chaos/cellsLoad';
import { planCut } from '../../chaos/cellsMain';
import type { Facts } from '../../chaos/facts';
import { History, type Op } from '../../chaos/history';
import { parseOptions } from '../../chaos/options';
import { homeCellOf } from '../../domain/cells';

/** Packet ids of the service's shape (packets/gate/ids.ts): the cell sits after the eight-digit day. */
const packetOf = (cell: string) => `20261207${cell}r14382222001h62b7yp7xrf3c`;
const users = cellUsers();
const window = { startMs: 10_000, endMs: 20_000 };

function op(fields: Partial<Op> & Pick<Op, 'kind'>): Op {
  return { userId: users.n[0]!, invokedMs: 12_000, doneMs: 12_100, outcome: 'ok', status: 200, ...fields };
}

function historyOf(ops: Op[]): History {
  const history = new History();
  for (const each of ops) history.record(each);
  return history;
}

describe('chaos --cells options and plan', () => {
  it('defaults to 90 s with a 30 s cut, and --quick to a fixed seed with a 15 s cut', () => {
    const full = parseOptions(['--cells']);
    expect(full).toMatchObject({ cells: true, durationS: 90, cutS: 30, faults: [] });
    const quick = parseOptions(['--cells', '--quick']);
    expect(quick).toMatchObject({ cells: true, quick: true, durationS: 50, cutS: 15, seed: 27 });
    expect(parseOptions(['--quick'])).toMatchObject({ cells: false, durationS: 60, seed: 18 });
  });

  it('refuses a cut that does not fit in the load', () => {
    expect(() => parseOptions(['--cells', '--cut', '30', '--duration', '40'])).toThrow(/--cut/);
    expect(() => parseOptions(['--cut', '5'])).toThrow(/unknown option/);
  });

  it('replays the cut from the seed and keeps it inside the load', () => {
    const options = parseOptions(['--cells', '--seed', '7']);
    expect(planCut(options)).toEqual(planCut(options));
    const cells = new Set<string>();
    for (let seed = 0; seed < 40; seed++) {
      const plan = planCut({ ...options, seed });
      cells.add(plan.cell);
      expect(plan.atMs).toBeGreaterThanOrEqual(12_000);
      expect(plan.atMs + options.cutS * 1000).toBeLessThanOrEqual((options.durationS - 10) * 1000);
    }
    expect([...cells].sort()).toEqual(['n', 's']);
  });

  it('homes twenty users in each cell', () => {
    expect(users.n).toHaveLength(USERS_PER_HOME);
    expect(users.s).toHaveLength(USERS_PER_HOME);
    expect(users.s.every((user) => homeCellOf(user, ['n', 's']) === 's')).toBe(true);
  });
});

describe('chaos --cells judging of the cut', () => {
  it('owns packet requests by the packet id, the rest by the home, the received list by both', () => {
    expect(ownerOf(op({ kind: 'open', userId: users.s[0]!, packetId: packetOf('n') }))).toBe('n');
    expect(ownerOf(op({ kind: 'send', userId: users.s[0]! }))).toBe('s');
    expect(ownerOf(op({ kind: 'deposit', userId: 'chaos-admin', forUserId: users.n[1]! }))).toBe('n');
    expect(ownerOf(op({ kind: 'received' }))).toBe('both');
  });

  it('passes when the standing cell answers (refusals count) and the cut cell refuses 503', () => {
    const history = historyOf([
      op({ kind: 'grab', packetId: packetOf('n'), status: 409, outcome: 'failed', code: 'packet_exhausted' }),
      op({ kind: 'open', packetId: packetOf('n'), userId: users.s[0]!, entry: 's' }),
      op({
        kind: 'send',
        userId: users.s[1]!,
        status: 503,
        outcome: 'unknown',
        code: 'region_unavailable',
        entry: 'n',
      }),
      // Outside the cut: not judged by it.
      op({ kind: 'send', userId: users.s[1]!, invokedMs: 19_900, doneMs: 20_500, status: 201 }),
    ]);
    const { figures, invariants } = judgeCut(history, 's', window);
    expect(invariants.every((inv) => inv.ok)).toBe(true);
    expect(figures.standing).toEqual({ cell: 'n', requests: 2, answered: 2, share: 1 });
    expect(figures.cut).toEqual({
      requests: 1,
      regionUnavailable: 1,
      byEntry: { n: 1 },
      refusalMsP50: 100,
      refusalMsMax: 100,
      answeredAfterRestore: 1,
    });
  });

  it('fails on a false 404 or a 500 from the cut cell, and on the standing cell refusing as down', () => {
    const history = historyOf([
      op({ kind: 'grab', packetId: packetOf('s'), status: 404, outcome: 'failed', code: 'packet_not_found' }),
      op({ kind: 'balance', userId: users.s[0]!, status: 500, outcome: 'unknown', code: 'internal' }),
      op({
        kind: 'open',
        packetId: packetOf('n'),
        status: 503,
        outcome: 'unknown',
        code: 'region_unavailable',
      }),
    ]);
    const failed = judgeCut(history, 's', window).invariants.filter((inv) => !inv.ok);
    expect(failed.map((inv) => inv.name).sort()).toEqual([
      'cut_cell_region_unavailable',
      'standing_cell_answers',
    ]);
    expect(failed.find((inv) => inv.name === 'cut_cell_region_unavailable')?.offending).toHaveLength(2);
    expect(checkNo500(history).offending).toHaveLength(1);
    const pending = op({ kind: 'send', status: 503, outcome: 'unknown', code: 'payment_pending' });
    const gateway = op({ kind: 'send', status: 502, outcome: 'unknown' });
    expect(checkNo500(historyOf([pending])).ok).toBe(true);
    expect(checkNo500(historyOf([pending, gateway])).offending).toHaveLength(1);
    const hung = op({
      kind: 'grab',
      packetId: packetOf('s'),
      status: 0,
      outcome: 'unknown',
      invokedMs: 9_000,
    });
    expect(checkAllAnswered(historyOf([pending, hung]), window.startMs).offending).toEqual([
      expect.stringMatching(/owner s\), sent -1\.0 s after the cut began/),
    ]);
  });
});

describe('chaos --cells facts', () => {
  it('merges both cells: maps joined, totals added', () => {
    const facts = (walletsFen: number, depositedFen: number): Facts => ({
      claims: [],
      packets: new Map(),
      requests: new Map([[`u ${walletsFen}`, 'p']]),
      deposits: new Map(),
      refusedPayments: new Set(),
      totals: { walletsFen, escrowsFen: 1, externalFen: -depositedFen, depositedFen },
    });
    const merged = mergeFacts([facts(10, 11), facts(20, 21)]);
    expect(merged.requests.size).toBe(2);
    expect(merged.totals).toEqual({ walletsFen: 30, escrowsFen: 2, externalFen: -32, depositedFen: 32 });
  });
});
