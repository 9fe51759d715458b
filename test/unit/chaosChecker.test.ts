/**
 * The chaos checker must catch what it claims to: each case breaks one invariant in otherwise consistent
 * facts and expects exactly that invariant to fail. The schedule must replay from its seed.
 */
import { checkCredits, checkHistory } from '../../chaos/checker';
import type { ClaimRow, Facts, PacketRow } from '../../chaos/facts';
import { History, type Op } from '../../chaos/history';
import { FAULT_KINDS } from '../../chaos/options';
import { buildSchedule } from '../../chaos/schedule';

function packet(id: string, fields: Partial<PacketRow> = {}): PacketRow {
  return {
    id,
    totalFen: 100,
    shareCount: 2,
    status: 'finished',
    refundFen: 40,
    expired: true,
    claims: 1,
    claimedFen: 60,
    pays: 1,
    paidFen: 100,
    refunds: 1,
    refundedFen: 40,
    escrowFen: 0,
    ...fields,
  };
}

const claim: ClaimRow = {
  id: 'p1-1',
  packetId: 'p1',
  userId: 'u1',
  amountFen: 60,
  createdMs: 1_000,
  creditedMs: 1_200,
  credits: 1,
  creditedFen: 60,
};

function facts(fields: Partial<Facts> = {}): Facts {
  return {
    claims: [claim],
    packets: new Map([['p1', packet('p1')]]),
    requests: new Map([['s1 k1', 'p1']]),
    deposits: new Map(),
    refusedPayments: new Set(),
    totals: { walletsFen: 500, escrowsFen: 0, externalFen: -500, depositedFen: 500 },
    ...fields,
  };
}

const op = (fields: Partial<Op> & Pick<Op, 'kind' | 'outcome'>): Op => ({
  userId: 'u1',
  invokedMs: 0,
  doneMs: 1,
  status: fields.outcome === 'ok' ? 200 : fields.outcome === 'failed' ? 409 : 0,
  ...fields,
});

function history(ops: Op[]): History {
  const h = new History();
  for (const o of ops) h.record(o);
  return h;
}

const baseOps = (): Op[] => [
  op({ kind: 'send', outcome: 'unknown', userId: 's1', key: 'k1', amountFen: 100 }),
  op({ kind: 'send', outcome: 'ok', userId: 's1', key: 'k1', status: 201, packetId: 'p1', amountFen: 100 }),
  op({ kind: 'open', outcome: 'ok', packetId: 'p1', claimId: 'p1-1', amountFen: 60 }),
];

const failing = (f: Facts, ops: Op[]) =>
  checkHistory(f, history(ops))
    .filter((inv) => !inv.ok)
    .map((inv) => inv.name);

describe('chaos checker', () => {
  it('passes consistent facts', () => {
    expect(failing(facts(), baseOps())).toEqual([]);
  });

  it('catches a refused open that left a claim', () => {
    const ops = [
      ...baseOps().slice(0, 2),
      op({ kind: 'open', outcome: 'failed', packetId: 'p1', code: 'x' }),
    ];
    expect(failing(facts(), ops)).toEqual(['open_refused_no_claim']);
  });

  it('catches a 200 open whose claim was credited twice', () => {
    const f = facts({ claims: [{ ...claim, credits: 2, creditedFen: 120 }] });
    expect(failing(f, baseOps())).toContain('open_ok_one_claim_one_credit');
  });

  it('catches a send paid twice, a 402 that paid, and lost money', () => {
    expect(failing(facts({ packets: new Map([['p1', packet('p1', { pays: 2 })]]) }), baseOps())).toEqual([
      'send_201_paid_once',
    ]);
    const refused = [op({ kind: 'send', outcome: 'failed', userId: 's1', key: 'k1', status: 402 })];
    expect(failing(facts({ claims: [] }), refused)).toContain('send_refused_unpaid');
    const lost = facts({ totals: { walletsFen: 499, escrowsFen: 0, externalFen: -500, depositedFen: 500 } });
    expect(failing(lost, baseOps())).toEqual(['money_conserved']);
  });

  it('catches an expired packet with a wrong refund or a claim never credited', () => {
    const wrong = facts({ packets: new Map([['p1', packet('p1', { refundFen: 39, refundedFen: 39 })]]) });
    expect(failing(wrong, baseOps())).toEqual(['expired_packet_settled']);
    const uncredited = facts({ claims: [{ ...claim, creditedMs: null }] });
    expect(checkCredits(uncredited, 10_000).invariant.ok).toBe(false);
    expect(checkCredits(facts(), 10_000).slowest).toEqual({ claimId: 'p1-1', lagMs: 200 });
  });
});

describe('chaos schedule', () => {
  it('replays from its seed and injects every kind the asked number of times', () => {
    const plan = buildSchedule(1801, FAULT_KINDS, 3, 150_000);
    expect(buildSchedule(1801, FAULT_KINDS, 3, 150_000)).toEqual(plan);
    expect(buildSchedule(1802, FAULT_KINDS, 3, 150_000)).not.toEqual(plan);
    for (const kind of FAULT_KINDS) expect(plan.filter((f) => f.kind === kind)).toHaveLength(3);
    expect(plan.every((f) => f.atMs > 0 && f.atMs < 150_000)).toBe(true);
  });
});
