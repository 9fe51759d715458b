/**
 * The audit tests' honest books and the tools to damage them: a small world built by the production pay,
 * open, credit and settle (so it satisfies every money rule, by the product's own code), and corruptions that each break one rule inside a
 * transaction the test rolls back (auditCorrupted).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createActivities } from '../../activities';
import type { Tx } from '../../db';
import type { AuditCheck } from '../../ledger/audit';
import { claimIdOf, openShare } from '../../packets/store/openShare';
import { creditQueuedClaims } from './credits';
import type { Harness } from './harness';
import { constant, drawFor, fund, packetInput } from './ledgerFixtures';

// One honest world: a packet settled with a refund, one settled fully claimed, one still open with a
// credited and an uncredited claim.
export const SENDER = 'sender';
export const [P1, P2, P3] = ['p1', 'p2', 'p3'];
/** The claims' ids are the ones the open statement writes, `<packetId>-<seq>`. */
export const P3_CREDITED = claimIdOf(P3, 1);
export const P3_UNCREDITED = claimIdOf(P3, 2);

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
      `INSERT INTO transfers (day, id, kind, debit_account_id, credit_account_id, amount_fen, packet_id, claim_id)
       VALUES (transfer_day($1), $1, $2, $3, $4, $5, $6, $7)`,
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
export async function buildHonestBooks(h: Harness): Promise<void> {
  const { db } = h;
  const activities = createActivities({ db, redis: h.redis, credit: h.config.credit });
  const pay = (packetId: string, totalFen: number, shareCount: number) =>
    activities.payPacket(packetInput({ packetId, senderId: SENDER, totalFen, shareCount }));
  const open = async (packetId: string, userId: string, amountFen: number) =>
    openShare(db, packetId, userId, { draw: constant(await drawFor(db, packetId, amountFen)) });
  const openAndCredit = async (packetId: string, userId: string, amountFen: number) => {
    await open(packetId, userId, amountFen);
    await creditQueuedClaims(db);
  };
  await fund(db, SENDER, 2_000);
  await pay(P1, 1_000, 3);
  await openAndCredit(P1, 'a', 300);
  await openAndCredit(P1, 'b', 200);
  await activities.settlePacket(P1);
  await pay(P2, 300, 2);
  await openAndCredit(P2, 'a', 100);
  await openAndCredit(P2, 'c', 200);
  await activities.settlePacket(P2);
  await pay(P3, 500, 5);
  await openAndCredit(P3, 'a', 50);
  await open(P3, 'b', 70);
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
