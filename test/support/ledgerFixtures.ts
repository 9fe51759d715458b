/**
 * Ledger test data: balances, tags, funding, the inputs the production pay and open take (a packet
 * spec as the payment's input, the draw that opens a share of a chosen amount), and an audit of corrupted
 * books rolled back. Pay, open, credit and settle themselves are the production functions the tests call.
 */
import { randomBytes } from 'node:crypto';
import type { Db, Queryable, Tx } from '../../db';
import { auditWith, type AuditOptions, type AuditReport } from '../../ledger/audit';
import { deposit } from '../../ledger/deposits';
import type { PostedTransfer } from '../../ledger/transfers';
import { TOP_DRAW } from './draws';
import type { PacketInput } from '../../saga';

export async function balanceOf(db: Queryable, accountId: string): Promise<number | undefined> {
  const { rows } = await db.query<{ balance_fen: number }>('SELECT balance_fen FROM accounts WHERE id = $1', [
    accountId,
  ]);
  return rows[0]?.balance_fen;
}

/** A short random tag, so each test names its own users, packets and keys in the file's shared schema. */
export const uniqueTag = (): string => randomBytes(4).toString('hex');

/** Deposits `amountFen` into `userId`'s wallet under a fresh key. */
export async function fund(db: Db, userId: string, amountFen: number): Promise<PostedTransfer> {
  return deposit(db, { key: `fund-${uniqueTag()}`, userId, amountFen });
}

export interface PacketSpec {
  packetId: string;
  senderId: string;
  totalFen: number;
  shareCount: number;
}

/** A random packet's send, as the payment activity takes it, expiring in a day. */
export function packetInput(spec: PacketSpec): PacketInput {
  return {
    packetId: spec.packetId,
    senderId: spec.senderId,
    type: 'random',
    totalFen: spec.totalFen,
    count: spec.shareCount,
    greeting: null,
    recipientId: null,
    audience: null,
    expiresAtMs: Date.now() + 86_400_000,
    fingerprint: `fixture-${spec.packetId}`,
    creditStuckAfterMs: 60_000,
  };
}

/**
 * The draw (open_share's third argument) that makes the packet's next share exactly `amountFen`, so a test
 * can arrange claims of known amounts through the production open. The amount must be one the allocation
 * could draw; the last share is always the rest.
 */
export async function drawFor(db: Queryable, packetId: string, amountFen: number): Promise<number> {
  // A random share is 1 + floor(draw * cap), so the middle of the amount's slot of the draw range draws it;
  // the cap is the share of the top draw. share_from_draw, the rule's owner, says whether it does.
  const { rows } = await db.query<{ cap: number; drawn: number | null; draw: number }>(
    `SELECT cap, share_from_draw(type, remaining_fen, remaining_count, ($2::float8 - 0.5) / cap) AS drawn,
            ($2::float8 - 0.5) / cap AS draw
       FROM packets, share_from_draw(type, remaining_fen, remaining_count, $3) AS cap
      WHERE id = $1 AND remaining_count > 0`,
    [packetId, amountFen, TOP_DRAW],
  );
  const packet = rows[0];
  if (!packet) return 0;
  if (packet.drawn !== amountFen)
    throw new Error(`packet ${packetId} cannot draw a share of ${amountFen} fen`);
  return packet.draw;
}

/** A draw option that always draws `draw`. */
export const constant =
  (draw: number): (() => number) =>
  () =>
    draw;

/** The thrown cause of a failed activity (the DomainError inside its ApplicationFailure), else the error. */
class RollBack extends Error {}

/**
 * Applies `corrupt` inside a transaction, audits what that transaction sees, and rolls everything back, so a
 * corruption test leaves the shared schema clean. DDL (dropping a constraint) rolls back too.
 */
export async function auditCorrupted(
  db: Db,
  corrupt: (tx: Tx) => Promise<unknown>,
  options: AuditOptions = {},
): Promise<AuditReport> {
  let report: AuditReport | undefined;
  await db
    .withTransaction(async (tx) => {
      await corrupt(tx);
      report = await auditWith(tx, options);
      throw new RollBack();
    })
    .catch((err: unknown) => {
      if (!(err instanceof RollBack)) throw err;
    });
  if (!report) throw new Error('the audit did not run');
  return report;
}
