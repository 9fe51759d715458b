/**
 * The audit tests' honest books and the tools to damage them: a small world built through the ledger
 * fixtures (so it satisfies every money rule), and corruptions that each break one rule inside a
 * transaction the test rolls back (auditCorrupted).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Db, Tx } from '../../db';
import type { AuditCheck } from '../../ledger/audit';
import type { Harness } from './harness';
import { claimAndCredit, finishPacket, fund, openClaim, payPacket } from './ledgerFixtures';

// One honest world: a packet settled with a refund, one settled fully claimed, one still open with a
// credited and an uncredited claim.
export const SENDER = 'sender';
export const [P1, P2, P3] = ['p1', 'p2', 'p3'];
export const P3_CREDITED = 'p3-1';
export const P3_UNCREDITED = 'p3-2';

/** A corruption that runs these statements, in order. */
export const exec =
  (...statements: string[]) =>
  async (tx: Tx): Promise<void> => {
    for (const statement of statements) await tx.query(statement);
  };

/** A corruption that writes a transfer by hand (bypassing postTransfer) and moves the balances to match. */
export function post(id: string, kind: string, from: string, to: string, amountFen: number) {
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

export interface Corruption {
  damage: string;
  check: AuditCheck;
  /** Text the violation's detail must contain: it names the damaged row. */
  mentions: string;
  corrupt: (tx: Tx) => Promise<void>;
}

/** Builds the honest world above; its totals are what the clean audit test expects. */
export async function buildHonestBooks(db: Db): Promise<void> {
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
}

const run = promisify(execFile);
const TSX = join(__dirname, '../../node_modules/.bin/tsx');
const AUDIT_SCRIPT = join(__dirname, '../../scripts/audit.ts');

/** Runs `npm run audit`'s script against a harness's schema; rejects with code 1 when it finds violations. */
export function runAuditScript(
  harness: Harness,
  overrides: Record<string, string> = {},
): Promise<{ stdout: string; stderr: string }> {
  const env = {
    ...process.env,
    DATABASE_URL: harness.config.database.url,
    DATABASE_SCHEMA: harness.config.database.schema,
    AUTOSTART_SERVICES: 'false',
    ...overrides,
  };
  return run(TSX, [AUDIT_SCRIPT], { env });
}
