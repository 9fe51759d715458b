/**
 * Ledger test fixtures: the packet-side writes (pay, open, credit, settle) done directly in SQL around the
 * real transfer function, so ledger and audit tests can build packets, claims and credits that satisfy every
 * money rule without Temporal or Redis. They keep the production order of locks: the packet row first, then
 * the accounts (which postTransfers locks in id order).
 */
import { randomBytes } from 'node:crypto';
import type { Db, Queryable, Tx } from '../../db';
import { escrowAccount, transferIds, walletAccount } from '../../domain/accounts';
import { maxShareFen } from '../../domain/allocation';
import { DomainError, ErrorCode } from '../../domain/errors';
import { deposit } from '../../ledger/deposits';
import {
  ensureWallet,
  ensureWallets,
  openEscrow,
  postTransfer,
  postTransfers,
  type PostedTransfer,
} from '../../ledger/transfers';
import { auditWith, type AuditOptions, type AuditReport } from '../../ledger/audit';

export interface TableCounts {
  accounts: number;
  transfers: number;
  packets: number;
  claims: number;
}

export async function tableCounts(db: Queryable): Promise<TableCounts> {
  const { rows } = await db.query<TableCounts>(
    `SELECT (SELECT count(*)::int FROM accounts) AS accounts, (SELECT count(*)::int FROM transfers) AS transfers,
            (SELECT count(*)::int FROM packets) AS packets, (SELECT count(*)::int FROM claims) AS claims`,
  );
  return rows[0]!;
}

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

/** Pays a packet: sender's wallet into a fresh escrow, and the packet row, in one transaction. */
export async function payPacket(db: Db, spec: PacketSpec): Promise<PostedTransfer> {
  return db.withTransaction(async (tx) => {
    await ensureWallet(tx, spec.senderId);
    await openEscrow(tx, spec.packetId);
    const posted = await postTransfer(tx, {
      id: transferIds.pay(spec.packetId),
      debitAccountId: walletAccount(spec.senderId),
      creditAccountId: escrowAccount(spec.packetId),
      amountFen: spec.totalFen,
      kind: 'pay',
      packetId: spec.packetId,
    });
    await tx.query(
      `INSERT INTO packets (id, sender_id, type, total_fen, share_count, remaining_fen, remaining_count, expires_at)
       VALUES ($1, $2, 'random', $3, $4, $3, $4, now() + interval '1 day') ON CONFLICT (id) DO NOTHING`,
      [spec.packetId, spec.senderId, spec.totalFen, spec.shareCount],
    );
    return posted;
  });
}

export interface ClaimSpec {
  claimId: string;
  packetId: string;
  userId: string;
  amountFen: number;
}

interface LockedPacket {
  id: string;
  sender_id: string;
  status: string;
  remaining_fen: number;
  remaining_count: number;
  share_count: number;
  refund_fen: number | null;
}

async function lockPacket(tx: Tx, packetId: string): Promise<LockedPacket | undefined> {
  const { rows } = await tx.query<LockedPacket>(
    `SELECT id, sender_id, status, remaining_fen, remaining_count, share_count, refund_fen FROM packets
      WHERE id = $1 FOR UPDATE`,
    [packetId],
  );
  return rows[0];
}

/**
 * The open step's rules: an open packet with a share left, one claim per user, and a share the random
 * allocation could have drawn (at most twice the remaining average, leaving at least one fen for every
 * later share), so the audit's allocation check holds. Inserts the claim and decrements what remains.
 */
async function insertClaim(tx: Tx, packet: LockedPacket | undefined, claim: ClaimSpec, credited: boolean) {
  if (!packet) throw new DomainError(ErrorCode.PacketNotFound, `no packet ${claim.packetId}`);
  if (packet.status !== 'open') throw new DomainError(ErrorCode.PacketExpired, 'the packet is not open');
  if (packet.remaining_count === 0) throw new DomainError(ErrorCode.PacketExhausted, 'no share left');
  const { rows } = await tx.query('SELECT 1 FROM claims WHERE packet_id = $1 AND user_id = $2', [
    claim.packetId,
    claim.userId,
  ]);
  if (rows.length > 0) throw new DomainError(ErrorCode.AlreadyClaimed, 'one claim per user');
  if (claim.amountFen > maxShareFen(packet.remaining_fen, packet.remaining_count)) {
    throw new DomainError(ErrorCode.InvalidAmount, 'the share is more than the allocation could draw');
  }
  await tx.query(
    `INSERT INTO claims (id, packet_id, user_id, seq, amount_fen, credited_at)
     VALUES ($1, $2, $3, $4, $5, CASE WHEN $6::boolean THEN clock_timestamp() END)`,
    [
      claim.claimId,
      claim.packetId,
      claim.userId,
      packet.share_count - packet.remaining_count + 1,
      claim.amountFen,
      credited,
    ],
  );
  await tx.query(
    'UPDATE packets SET remaining_fen = remaining_fen - $2, remaining_count = remaining_count - 1 WHERE id = $1',
    [claim.packetId, claim.amountFen],
  );
}

/** Opens a claim without crediting it: the money is owed (pendingFen) but still in escrow. */
export async function openClaim(db: Db, claim: ClaimSpec): Promise<void> {
  await db.withTransaction(async (tx) => insertClaim(tx, await lockPacket(tx, claim.packetId), claim, false));
}

async function creditUncredited(tx: Tx, packetId: string): Promise<number> {
  const { rows: claims } = await tx.query<{ id: string; user_id: string; amount_fen: number }>(
    'SELECT id, user_id, amount_fen FROM claims WHERE packet_id = $1 AND credited_at IS NULL ORDER BY seq',
    [packetId],
  );
  if (claims.length === 0) return 0;
  await ensureWallets(
    tx,
    claims.map((claim) => claim.user_id),
  );
  await postTransfers(
    tx,
    claims.map((claim) => ({
      id: transferIds.credit(claim.id),
      debitAccountId: escrowAccount(packetId),
      creditAccountId: walletAccount(claim.user_id),
      amountFen: claim.amount_fen,
      kind: 'credit' as const,
      packetId,
      claimId: claim.id,
    })),
  );
  await tx.query('UPDATE claims SET credited_at = clock_timestamp() WHERE id = ANY($1::text[])', [
    claims.map((claim) => claim.id),
  ]);
  return claims.length;
}

/** One credit wave: every uncredited claim of the packet, in one transaction. Returns how many. */
export async function creditClaims(db: Db, packetId: string): Promise<number> {
  return db.withTransaction(async (tx) => {
    await lockPacket(tx, packetId);
    return creditUncredited(tx, packetId);
  });
}

/**
 * Opens and credits a claim in one transaction, posting the credit first so the ledger's answer (replayed,
 * conflict, unknown account, insufficient funds) comes before the packet's rules. A replay writes nothing.
 */
export async function claimAndCredit(db: Db, claim: ClaimSpec): Promise<PostedTransfer> {
  return db.withTransaction(async (tx) => {
    const packet = await lockPacket(tx, claim.packetId);
    await ensureWallet(tx, claim.userId);
    const posted = await postTransfer(tx, {
      id: transferIds.credit(claim.claimId),
      debitAccountId: escrowAccount(claim.packetId),
      creditAccountId: walletAccount(claim.userId),
      amountFen: claim.amountFen,
      kind: 'credit',
      packetId: claim.packetId,
      claimId: claim.claimId,
    });
    if (!posted.replayed) await insertClaim(tx, packet, claim, true);
    return posted;
  });
}

/**
 * Settles a packet as the expiry path does: credits what is left, refunds the unclaimed rest to the sender
 * and marks it finished, all in one transaction. Settling a finished packet changes nothing.
 */
export async function finishPacket(
  db: Db,
  packetId: string,
): Promise<{ refundFen: number; replayed: boolean }> {
  return db.withTransaction(async (tx) => {
    const packet = await lockPacket(tx, packetId);
    if (!packet) throw new DomainError(ErrorCode.PacketNotFound, `no packet ${packetId}`);
    if (packet.status === 'finished') return { refundFen: packet.refund_fen ?? 0, replayed: true };
    await creditUncredited(tx, packetId);
    const refundFen = packet.remaining_fen;
    if (refundFen > 0) {
      await postTransfer(tx, {
        id: transferIds.refund(packetId),
        debitAccountId: escrowAccount(packetId),
        creditAccountId: walletAccount(packet.sender_id),
        amountFen: refundFen,
        kind: 'refund',
        packetId,
      });
    }
    await tx.query(
      `UPDATE packets SET status = 'finished', refund_fen = $2, closed_at = now() WHERE id = $1`,
      [packetId, refundFen],
    );
    return { refundFen, replayed: false };
  });
}

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
