/**
 * The failover faults of `npm run chaos -- --cells --failover` (chaos/cellsFailover.ts) must judge what they
 * claim: the failover time is the first open of the broken cell's packets sent after the fault, a run with no
 * open after the fault fails, and in the asynchronous variant only the checks about acknowledged operations
 * turn into the measured RPO; an audit still fails the run.
 */
import { cellUsers } from '../../chaos/cellsLoad';
import { asRpo, judgeFailover, type FailoverWindow } from '../../chaos/cellsFailover';
import { invariant } from '../../chaos/checker';
import { History, type Op } from '../../chaos/history';
import { parseOptions } from '../../chaos/options';

const packetOf = (cell: string) => `20261207${cell}r14382222001h62b7yp7xrf3c`;
const users = cellUsers();
const window: FailoverWindow = {
  kind: 'primary-crash',
  startMs: 10_000,
  endMs: 20_000,
  leaderBefore: 's-a',
  leaderAfter: 's-b',
  standbyAfter: 's-a',
  rewound: false,
};

function historyOf(ops: Partial<Op>[]): History {
  const history = new History();
  for (const fields of ops)
    history.record({
      kind: 'open',
      userId: users.n[0]!,
      invokedMs: 12_000,
      doneMs: 12_100,
      outcome: 'ok',
      status: 200,
      ...fields,
    });
  return history;
}

describe('chaos --cells --failover', () => {
  it('parses the kind, primary-crash by default, and only with --cells', () => {
    expect(parseOptions(['--cells', '--failover'])).toMatchObject({ failover: 'primary-crash' });
    expect(parseOptions(['--cells', '--failover', 'standby-loss', '--quick'])).toMatchObject({
      failover: 'standby-loss',
      quick: true,
    });
    expect(parseOptions(['--cells'])).not.toHaveProperty('failover');
    expect(() => parseOptions(['--failover'])).toThrow(/unknown option/);
  });

  it("measures the first open of the broken cell's packets sent after the fault", () => {
    const history = historyOf([
      // Before the fault, and of the other cell: not counted.
      { packetId: packetOf('s'), invokedMs: 9_000, doneMs: 10_500 },
      { packetId: packetOf('n'), invokedMs: 10_100, doneMs: 10_200 },
      { packetId: packetOf('s'), invokedMs: 10_200, doneMs: 10_300, status: 503, outcome: 'unknown' },
      { packetId: packetOf('s'), invokedMs: 13_000, doneMs: 14_000 },
    ]);
    const { figures, invariants } = judgeFailover(history, 's', window);
    expect(figures).toMatchObject({ firstOpenMs: 4_000, refused503: 1 });
    expect(invariants.every((inv) => inv.ok)).toBe(true);
  });

  it('fails when no open of the cell succeeded after the fault', () => {
    const history = historyOf([{ packetId: packetOf('s'), status: 503, outcome: 'unknown' }]);
    const failed = judgeFailover(history, 's', window).invariants.filter((inv) => !inv.ok);
    expect(failed.map((inv) => inv.name)).toEqual(['failover_within_goal']);
  });

  it('asynchronous: lost acknowledged operations are the RPO, an unclean audit still fails', () => {
    const { invariants, lost } = asRpo([
      invariant('send_201_paid_once', 'sends', ['p1 lost', 'p2 lost']),
      invariant('audit_clean_s', 'audit', ['escrow negative']),
      invariant('money_conserved', 'money', []),
    ]);
    expect(lost).toBe(2);
    expect(invariants.map((inv) => [inv.name, inv.ok])).toEqual([
      ['send_201_paid_once', true],
      ['audit_clean_s', false],
      ['money_conserved', true],
    ]);
  });
});
