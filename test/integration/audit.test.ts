/**
 * The audit must pass on honest books and fail on every kind of damage it claims to see. Each corruption is
 * applied inside a transaction that is rolled back after auditing it, so the cases stay independent.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Tx } from '../../db';
import { AUDIT_DETAILS_PER_CHECK_MAX, AuditCheck, runAudit } from '../../ledger/audit';
import { expectAuditClean } from '../support/audit';
import { createHarness, type Harness } from '../support/harness';
import {
  auditCorrupted,
  claimAndCredit,
  finishPacket,
  fund,
  openClaim,
  payPacket,
} from '../support/ledgerFixtures';

const run = promisify(execFile);

// One honest world: a packet settled with a refund, one settled fully claimed, one still open with a
// credited and an uncredited claim.
const SENDER = 'sender';
const [P1, P2, P3] = ['p1', 'p2', 'p3'];
const P3_CREDITED = 'p3-1';
const P3_UNCREDITED = 'p3-2';

/** A corruption that runs these statements, in order. */
const exec =
  (...statements: string[]) =>
  async (tx: Tx): Promise<void> => {
    for (const statement of statements) await tx.query(statement);
  };

/** A corruption that writes a transfer by hand (bypassing postTransfer) and moves the balances to match. */
function post(id: string, kind: string, from: string, to: string, amountFen: number) {
  const packetId = kind === 'deposit' ? null : P3;
  const claimId = kind === 'credit' ? P3_CREDITED : null;
  return async (tx: Tx): Promise<void> => {
    await tx.query(
      `INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, amount_fen, packet_id, claim_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [id, kind, from, to, amountFen, packetId, claimId],
    );
    await tx.query('UPDATE accounts SET balance_fen = balance_fen - $2 WHERE id = $1', [from, amountFen]);
    await tx.query('UPDATE accounts SET balance_fen = balance_fen + $2 WHERE id = $1', [to, amountFen]);
  };
}

interface Corruption {
  damage: string;
  check: AuditCheck;
  /** Text the violation's detail must contain: it names the damaged row. */
  mentions: string;
  corrupt: (tx: Tx) => Promise<void>;
}

const CORRUPTIONS: Corruption[] = [
  {
    damage: 'a balance edited by hand',
    check: AuditCheck.BalanceEqualsTransfers,
    mentions: 'wallet:a',
    corrupt: exec(`UPDATE accounts SET balance_fen = balance_fen + 1 WHERE id = 'wallet:a'`),
  },
  {
    damage: 'money appearing from nowhere',
    check: AuditCheck.BalancesSumToZero,
    mentions: 'instead of 0',
    corrupt: exec(`UPDATE accounts SET balance_fen = balance_fen + 1 WHERE id = 'wallet:a'`),
  },
  {
    damage: 'a negative escrow once its CHECK is dropped',
    check: AuditCheck.NoNegativeBalance,
    mentions: `escrow:${P3}`,
    corrupt: async (tx) => {
      await tx.query('ALTER TABLE accounts DROP CONSTRAINT accounts_non_negative');
      await post(`refund:${P3}`, 'refund', `escrow:${P3}`, `wallet:${SENDER}`, 10_000)(tx);
    },
  },
  {
    damage: 'an account named after someone else',
    check: AuditCheck.AccountNamedAfterOwner,
    mentions: 'wallet:mallory',
    corrupt: exec(`INSERT INTO accounts (id, kind, owner_id) VALUES ('wallet:mallory', 'wallet', 'a')`),
  },
  {
    damage: 'a deposit filed under a pay id',
    check: AuditCheck.TransferIdMatchesKind,
    mentions: 'pay:bogus',
    corrupt: post('pay:bogus', 'deposit', 'external:funding', 'wallet:a', 5),
  },
  {
    damage: 'a deposit straight into an escrow',
    check: AuditCheck.TransferAccountsMatchKind,
    mentions: 'deposit:into-escrow',
    corrupt: post('deposit:into-escrow', 'deposit', 'external:funding', `escrow:${P3}`, 5),
  },
  {
    damage: 'a credit for a claim that does not exist',
    check: AuditCheck.TransferReferencesExist,
    mentions: 'credit:ghost',
    corrupt:
      exec(`INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, amount_fen, packet_id, claim_id)
                   VALUES ('credit:ghost', 'credit', 'escrow:${P3}', 'wallet:a', 1, '${P3}', 'ghost')`),
  },
  {
    damage: 'an escrow with no packet',
    check: AuditCheck.EscrowHasPacket,
    mentions: 'escrow:orphan',
    corrupt: exec(`INSERT INTO accounts (id, kind, owner_id) VALUES ('escrow:orphan', 'escrow', 'orphan')`),
  },
  {
    damage: 'a packet total that differs from its payment',
    check: AuditCheck.PacketPaidOnce,
    mentions: P3,
    corrupt: exec(
      `UPDATE packets SET total_fen = total_fen + 1, remaining_fen = remaining_fen + 1 WHERE id = '${P3}'`,
    ),
  },
  {
    damage: 'claims worth more than the packet',
    check: AuditCheck.ClaimsWithinTotal,
    mentions: P3,
    corrupt: exec(`UPDATE claims SET amount_fen = 5000 WHERE id = '${P3_UNCREDITED}'`),
  },
  {
    damage: 'more claims than shares',
    check: AuditCheck.ClaimsWithinShares,
    mentions: P3,
    corrupt: exec(`UPDATE packets SET share_count = 1, remaining_count = 0 WHERE id = '${P3}'`),
  },
  {
    damage: 'a second claim by the same user once the unique constraint is gone',
    check: AuditCheck.OneClaimPerUser,
    mentions: 'user a',
    corrupt: exec(
      'ALTER TABLE claims DROP CONSTRAINT claims_one_per_user',
      `INSERT INTO claims (id, packet_id, user_id, seq, amount_fen) VALUES ('p3-3', '${P3}', 'a', 3, 1)`,
      `UPDATE packets SET remaining_fen = remaining_fen - 1, remaining_count = remaining_count - 1 WHERE id = '${P3}'`,
    ),
  },
  {
    damage: 'remaining shares out of step with the claims',
    check: AuditCheck.RemainingMatchesClaims,
    mentions: P3,
    corrupt: exec(`UPDATE packets SET remaining_count = remaining_count - 1 WHERE id = '${P3}'`),
  },
  {
    damage: 'an uncredited claim slipped into a finished packet',
    check: AuditCheck.FinishedPacketSettled,
    mentions: P1,
    corrupt: exec(
      `INSERT INTO claims (id, packet_id, user_id, seq, amount_fen) VALUES ('p1-late', '${P1}', 'c', 3, 1)`,
    ),
  },
  {
    damage: 'a second credit for one claim',
    check: AuditCheck.OneCreditPerClaim,
    mentions: P3_CREDITED,
    corrupt: post(`credit:${P3_CREDITED}-again`, 'credit', `escrow:${P3}`, 'wallet:a', 50),
  },
  {
    damage: 'credited_at set with no credit transfer',
    check: AuditCheck.OneCreditPerClaim,
    mentions: P3_UNCREDITED,
    corrupt: exec(`UPDATE claims SET credited_at = now() WHERE id = '${P3_UNCREDITED}'`),
  },
  {
    damage: 'a credit paid to the wrong wallet',
    check: AuditCheck.CreditMatchesClaim,
    mentions: `credit:${P3_CREDITED}`,
    corrupt: exec(`UPDATE transfers SET credit_account_id = 'wallet:c' WHERE id = 'credit:${P3_CREDITED}'`),
  },
  {
    damage: 'a refund that disagrees with refund_fen',
    check: AuditCheck.RefundMatchesPacket,
    mentions: P1,
    corrupt: exec(`UPDATE packets SET refund_fen = refund_fen - 1 WHERE id = '${P1}'`),
  },
  {
    damage: 'a refund out of a packet still open',
    check: AuditCheck.RefundMatchesPacket,
    mentions: P3,
    corrupt: post(`refund:${P3}`, 'refund', `escrow:${P3}`, `wallet:${SENDER}`, 10),
  },
  {
    damage: 'a finished packet with money left in escrow',
    check: AuditCheck.EscrowEmptyWhenFinished,
    mentions: P1,
    corrupt: exec(
      `UPDATE accounts SET balance_fen = 7 WHERE id = 'escrow:${P1}'`,
      `UPDATE accounts SET balance_fen = balance_fen - 7 WHERE id = 'wallet:${SENDER}'`,
    ),
  },
  {
    damage: 'an escrow holding less than its packet still owes',
    check: AuditCheck.EscrowMatchesPacket,
    mentions: P3,
    corrupt: exec(
      `UPDATE accounts SET balance_fen = balance_fen - 5 WHERE id = 'escrow:${P3}'`,
      `UPDATE accounts SET balance_fen = balance_fen + 5 WHERE id = 'wallet:a'`,
    ),
  },
];

describe('money audit', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness();
    const db = h.db;
    await fund(db, SENDER, 2_000);
    await payPacket(db, { packetId: P1, senderId: SENDER, totalFen: 1_000, shareCount: 3 });
    await claimAndCredit(db, { claimId: 'p1-1', packetId: P1, userId: 'a', amountFen: 300 });
    await claimAndCredit(db, { claimId: 'p1-2', packetId: P1, userId: 'b', amountFen: 200 });
    await finishPacket(db, P1);
    await payPacket(db, { packetId: P2, senderId: SENDER, totalFen: 300, shareCount: 2 });
    await claimAndCredit(db, { claimId: 'p2-1', packetId: P2, userId: 'a', amountFen: 100 });
    await claimAndCredit(db, { claimId: 'p2-2', packetId: P2, userId: 'c', amountFen: 200 });
    await finishPacket(db, P2);
    await payPacket(db, { packetId: P3, senderId: SENDER, totalFen: 500, shareCount: 5 });
    await claimAndCredit(db, { claimId: P3_CREDITED, packetId: P3, userId: 'a', amountFen: 50 });
    await openClaim(db, { claimId: P3_UNCREDITED, packetId: P3, userId: 'b', amountFen: 70 });
  });
  afterAll(async () => {
    await h.close();
  });

  test('honest books pass, and the report counts accounts, transfers, packets and where the money sits', async () => {
    const report = await expectAuditClean(h.db);
    expect(report.stats).toEqual({
      accounts: { wallets: 4, escrows: 3, external: 1 },
      transfers: { deposit: 1, pay: 3, credit: 5, refund: 1 },
      packets: { open: 1, closed: 0, finished: 2 },
      claims: { total: 6, uncredited: 1 },
      totals: { walletsFen: 1_550, escrowsFen: 450, externalFen: -2_000, uncreditedClaimsFen: 70 },
    });
  });

  test.each(CORRUPTIONS)('$damage is caught by $check', async ({ check, mentions, corrupt }) => {
    const report = await auditCorrupted(h.db, corrupt);
    expect(report.ok).toBe(false);
    expect(report.violations).toContainEqual({ check, detail: expect.stringContaining(mentions) });
  });

  test('every check has a corruption that trips it', () => {
    const tripped = new Set(CORRUPTIONS.map(({ check }) => check));
    expect([...tripped].sort()).toEqual(Object.values(AuditCheck).sort());
  });

  test(`a check lists at most ${AUDIT_DETAILS_PER_CHECK_MAX} lines and counts the rest`, async () => {
    const report = await auditCorrupted(h.db, (tx) =>
      tx.query(
        `INSERT INTO accounts (id, kind, owner_id, balance_fen)
         SELECT 'wallet:ghost' || i, 'wallet', 'ghost' || i, 1 FROM generate_series(1, 25) AS i`,
      ),
    );
    const lines = report.violations.filter((v) => v.check === AuditCheck.BalanceEqualsTransfers);
    expect(lines).toHaveLength(AUDIT_DETAILS_PER_CHECK_MAX + 1);
    expect(lines.at(-1)?.detail).toBe('... and 5 more');
  });

  test('npm run audit prints the report and exits 0 on honest books and 1 on damaged ones', async () => {
    const env = {
      ...process.env,
      DATABASE_URL: h.config.database.url,
      DATABASE_SCHEMA: h.config.database.schema,
      AUTOSTART_SERVICES: 'false',
    };
    const tsx = join(__dirname, '../../node_modules/.bin/tsx');
    const script = join(__dirname, '../../scripts/audit.ts');
    const clean = await run(tsx, [script], { env });
    expect(clean.stdout).toContain('ok');
    expect(clean.stdout).toContain('fen:       wallets 1550, escrows 450, external -2000');

    // The script reads committed data from its own connection, so this damage is committed and then undone.
    await h.db.query(`UPDATE accounts SET balance_fen = balance_fen + 1 WHERE id = 'wallet:a'`);
    try {
      await expect(run(tsx, [script], { env })).rejects.toMatchObject({
        code: 1,
        stdout: expect.stringContaining(`VIOLATION ${AuditCheck.BalanceEqualsTransfers}: account wallet:a`),
      });
    } finally {
      await h.db.query(`UPDATE accounts SET balance_fen = balance_fen - 1 WHERE id = 'wallet:a'`);
    }
    expect((await runAudit(h.db)).ok).toBe(true);
  });
});
