/**
 * The audit must pass on honest books and fail on every kind of damage it claims to see. Each corruption is
 * applied inside a transaction that is rolled back after auditing it, so the cases stay independent. The
 * workflow check, which needs real workflows, is tested in auditWorkflows.test.ts.
 */
import { homeCellOf } from '../../domain/cells';
import { AUDIT_DETAILS_PER_CHECK_MAX, AuditCheck, runAudit } from '../../ledger/audit';
import { creditLockedClaims, type CreditableClaim } from '../../packets/store/credits';
import { expectAuditClean } from '../support/audit';
import { buildHonestBooks, exec, P3, P3_UNCREDITED, runAuditScript } from '../support/auditBooks';
import {
  CLAIM_AND_LIVENESS_CORRUPTIONS,
  HONEST_EDGES,
  LEDGER_CORRUPTIONS,
  RECORD_CORRUPTIONS,
} from '../support/auditCorruptions';
import { createHarness, type Harness } from '../support/harness';
import { auditCorrupted } from '../support/ledgerFixtures';

const CORRUPTIONS = [...LEDGER_CORRUPTIONS, ...RECORD_CORRUPTIONS, ...CLAIM_AND_LIVENESS_CORRUPTIONS];

describe('money audit', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness();
    await buildHonestBooks(h);
  });
  afterAll(async () => {
    await h.close();
  });

  test('honest books pass, and the report counts accounts, transfers, packets and where the money sits', async () => {
    const report = await expectAuditClean(h.db);
    expect(report.stats).toEqual({
      accounts: { wallets: 4, escrows: 3, external: 1, clearing: 0 },
      transfers: { deposit: 1, pay: 3, credit: 5, refund: 1, xcredit: 0 },
      packets: { open: 1, closed: 0, finished: 2 },
      claims: { total: 6, uncredited: 1 },
      totals: {
        walletsFen: 1_550,
        escrowsFen: 450,
        clearingFen: 0,
        externalFen: -2_000,
        uncreditedClaimsFen: 70,
      },
    });
  });

  test.each(CORRUPTIONS)('$damage is caught by $check', async ({ check, mentions, corrupt }) => {
    const report = await auditCorrupted(h.db, corrupt);
    expect(report.ok).toBe(false);
    expect(report.violations).toContainEqual({ check, detail: expect.stringContaining(mentions) });
  });

  test('every check has a corruption that trips it', () => {
    // The workflow check needs real workflows; auditWorkflows.test.ts trips it.
    const tripped = new Set([...CORRUPTIONS.map(({ check }) => check), AuditCheck.EscrowHasLiveWorkflow]);
    expect([...tripped].sort()).toEqual(Object.values(AuditCheck).sort());
  });

  test('a claim of a user homed in another cell, credited into clearing with its outbox row, is honest', async () => {
    const all = ['n', 's'];
    // The cell that is not b's home: there, b's claim goes into clearing for b's home.
    const self = homeCellOf('b', all) === 'n' ? 's' : 'n';
    const report = await auditCorrupted(h.db, async (tx) => {
      const { rows } = await tx.query<CreditableClaim>(
        `SELECT id, packet_id AS "packetId", user_id AS "userId", amount_fen AS "amountFen" FROM claims
          WHERE id = $1 FOR UPDATE`,
        [P3_UNCREDITED],
      );
      await creditLockedClaims(tx, rows, { self, all, lanes: 2, lane: 1 });
    });
    expect(report.violations).toEqual([]);
    expect(report.stats.totals.clearingFen).toBe(70);
  });

  test.each(HONEST_EDGES)('$state passes $check', async ({ check, change }) => {
    const report = await auditCorrupted(h.db, change);
    expect(report.violations.filter((violation) => violation.check === check)).toEqual([]);
  });

  test('the thresholds are configurable: tighter ones report what the defaults allow', async () => {
    const lateAndSlow = exec(
      `UPDATE packets SET expires_at = now() - interval '1 minute' WHERE id = '${P3}'`,
      `UPDATE claims SET created_at = now() - interval '5 minutes' WHERE id = '${P3_UNCREDITED}'`,
    );
    const report = await auditCorrupted(h.db, lateAndSlow, {
      thresholds: { openPastExpiryGraceMs: 30_000, uncreditedMaxAgeMs: 60_000 },
    });
    expect(report.thresholds).toMatchObject({ openPastExpiryGraceMs: 30_000, uncreditedMaxAgeMs: 60_000 });
    expect(report.violations).toEqual(
      expect.arrayContaining([
        { check: AuditCheck.ExpiredPacketSettled, detail: expect.stringContaining(`packet ${P3}`) },
        { check: AuditCheck.ClaimCreditedInTime, detail: expect.stringContaining(`claim ${P3_UNCREDITED}`) },
      ]),
    );
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
    // Nothing listens on port 1: the workflow check is skipped, and says so, while the rest still decides.
    const env = { TEMPORAL_ADDRESS: '127.0.0.1:1' };
    const clean = await runAuditScript(h, env);
    expect(clean.stdout).toContain('ok');
    expect(clean.stdout).toContain('fen:       wallets 1550, escrows 450, clearing 0, external -2000');
    expect(clean.stdout).toContain('workflows: skipped: Temporal unreachable at 127.0.0.1:1: no answer');

    // The script reads committed data from its own connection, so this damage is committed and then undone.
    await h.db.query(`UPDATE accounts SET balance_fen = balance_fen + 1 WHERE id = 'wallet:a'`);
    try {
      await expect(runAuditScript(h, env)).rejects.toMatchObject({
        code: 1,
        stdout: expect.stringContaining(`VIOLATION ${AuditCheck.BalanceEqualsTransfers}: account wallet:a`),
      });
    } finally {
      await h.db.query(`UPDATE accounts SET balance_fen = balance_fen - 1 WHERE id = 'wallet:a'`);
    }
    expect((await runAudit(h.db)).ok).toBe(true);
  });
});
