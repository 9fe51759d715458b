/**
 * The function that moves money. The rows are written by SQL apply_transfers, which pay_packet calls too for
 * the payment (so that a send stays one statement); this file adds the replays, the locks and the checks.
 * Every movement (deposit, pay, credit, refund) is a transfer with a deterministic id; posting the same id again returns the original and changes nothing, and the same id with
 * different fields is a typed error. Accounts are locked in one statement in id order, so concurrent batches
 * that share accounts queue instead of deadlocking.
 */
import { PgErrorCode, pgErrorCode, type Tx } from '../db';
import { escrowAccount, walletAccount } from '../domain/accounts';
import { DomainError, ErrorCode } from '../domain/errors';
import { assertAmountFen } from '../domain/money';

export type TransferKind = 'deposit' | 'pay' | 'credit' | 'refund' | 'xcredit';

export interface TransferInput {
  id: string;
  debitAccountId: string;
  creditAccountId: string;
  amountFen: number;
  kind: TransferKind;
  packetId?: string | null;
  claimId?: string | null;
}

export interface Transfer extends Required<TransferInput> {
  seq: number;
  createdAt: Date;
}

export interface PostedTransfer {
  transfer: Transfer;
  /** True when the id already existed and nothing was written. */
  replayed: boolean;
}

interface TransferRow {
  id: string;
  seq: number;
  debit_account_id: string;
  credit_account_id: string;
  amount_fen: number;
  kind: TransferKind;
  packet_id: string | null;
  claim_id: string | null;
  created_at: Date;
}

const TRANSFER_COLUMNS =
  'id, seq, debit_account_id, credit_account_id, amount_fen, kind, packet_id, claim_id, created_at';
const TRANSFER_ID_MAX_LENGTH = 200;

function fromRow(row: TransferRow): Transfer {
  return {
    id: row.id,
    seq: row.seq,
    debitAccountId: row.debit_account_id,
    creditAccountId: row.credit_account_id,
    amountFen: row.amount_fen,
    kind: row.kind,
    packetId: row.packet_id,
    claimId: row.claim_id,
    createdAt: row.created_at,
  };
}

function validate(input: TransferInput): void {
  if (!input.id || input.id.length > TRANSFER_ID_MAX_LENGTH) {
    throw new DomainError(ErrorCode.InvalidAccount, 'a transfer needs an id of at most 200 characters');
  }
  assertAmountFen(input.amountFen);
  if (input.debitAccountId === input.creditAccountId) {
    throw new DomainError(ErrorCode.SelfTransfer, 'a transfer needs two different accounts', {
      transferId: input.id,
    });
  }
}

function sameFields(existing: Transfer, input: TransferInput): boolean {
  return (
    existing.debitAccountId === input.debitAccountId &&
    existing.creditAccountId === input.creditAccountId &&
    existing.amountFen === input.amountFen &&
    existing.kind === input.kind &&
    existing.packetId === (input.packetId ?? null) &&
    existing.claimId === (input.claimId ?? null)
  );
}

function replayOf(existing: Transfer, input: TransferInput): PostedTransfer {
  if (!sameFields(existing, input)) {
    throw new DomainError(
      ErrorCode.TransferConflict,
      `transfer ${input.id} already exists with different fields`,
      {
        transferId: input.id,
      },
    );
  }
  return { transfer: existing, replayed: true };
}

async function findTransfers(tx: Tx, ids: string[]): Promise<Map<string, Transfer>> {
  const { rows } = await tx.query<TransferRow>(
    // One index probe per id, each in its id's day: the LATERAL subquery runs once per id (OFFSET 0 keeps
    // the planner from flattening it into a join), so each run prunes to its day's partition.
    `SELECT t.* FROM unnest($1::text[]) AS k(id)
       CROSS JOIN LATERAL (SELECT ${TRANSFER_COLUMNS} FROM transfers
                            WHERE day = transfer_day(k.id) AND id = k.id OFFSET 0) AS t`,
    [ids],
  );
  return new Map(rows.map((row) => [row.id, fromRow(row)]));
}

/**
 * Writes the transfers and moves their accounts' balances in one statement: apply_transfers
 * (db/functions/apply_transfers.sql), which pay_packet calls too (xcredits are the one other writer,
 * docs/rules.md). The caller holds
 * the accounts' locks and has checked that every debit is covered.
 */
async function applyTransfers(tx: Tx, toInsert: readonly TransferInput[]): Promise<{ rows: TransferRow[] }> {
  try {
    return await tx.query<TransferRow>(
      `SELECT ${TRANSFER_COLUMNS}
         FROM apply_transfers($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[])`,
      [
        toInsert.map((input) => input.id),
        toInsert.map((input) => input.debitAccountId),
        toInsert.map((input) => input.creditAccountId),
        toInsert.map((input) => input.amountFen),
        toInsert.map((input) => input.kind),
        toInsert.map((input) => input.packetId ?? null),
        toInsert.map((input) => input.claimId ?? null),
      ],
    );
  } catch (err) {
    // Only reachable when a concurrent caller committed the same id on other accounts (so it held other
    // locks): by definition a conflicting transfer.
    if (pgErrorCode(err) === PgErrorCode.UniqueViolation) {
      throw new DomainError(
        ErrorCode.TransferConflict,
        'a transfer id was taken concurrently with different fields',
        {},
        { cause: err },
      );
    }
    throw err;
  }
}

/**
 * Posts transfers in one transaction (the caller's). Returns one result per input, in input order. Money
 * leaves an account only if its balance covers it (the external funding account excepted); otherwise the
 * whole call fails with InsufficientFunds and, with the caller's rollback, nothing is written.
 */
export async function postTransfers(tx: Tx, inputs: readonly TransferInput[]): Promise<PostedTransfer[]> {
  if (inputs.length === 0) return [];
  inputs.forEach(validate);
  const ids = inputs.map((input) => input.id);
  if (new Set(ids).size !== ids.length)
    throw new DomainError(ErrorCode.TransferConflict, 'a batch names one transfer id twice');

  // Fast path: replays need no locks.
  const existing = await findTransfers(tx, ids);
  const pending = inputs.filter((input) => !existing.has(input.id));
  if (pending.length > 0) {
    const accountIds = [
      ...new Set(pending.flatMap((input) => [input.debitAccountId, input.creditAccountId])),
    ].sort();
    const { rows: accounts } = await tx.query<{ id: string; kind: string; balance_fen: number }>(
      'SELECT id, kind, balance_fen FROM accounts WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE',
      [accountIds],
    );
    const balances = new Map(
      accounts.map((row) => [row.id, { kind: row.kind, balanceFen: row.balance_fen }]),
    );
    const missing = accountIds.filter((id) => !balances.has(id));
    if (missing.length > 0)
      throw new DomainError(ErrorCode.UnknownAccount, `unknown account ${missing.join(', ')}`, {
        accounts: missing,
      });

    // A concurrent caller may have posted some of these ids while we waited for the locks.
    const raced = await findTransfers(
      tx,
      pending.map((input) => input.id),
    );
    for (const [id, transfer] of raced) existing.set(id, transfer);

    for (const input of pending) {
      if (existing.has(input.id)) continue;
      const debit = balances.get(input.debitAccountId);
      const credit = balances.get(input.creditAccountId);
      if (!debit || !credit) throw new Error('locked accounts vanished'); // unreachable: checked above
      if (debit.kind !== 'external' && debit.balanceFen < input.amountFen) {
        throw new DomainError(
          ErrorCode.InsufficientFunds,
          `account ${input.debitAccountId} cannot cover ${input.amountFen} fen`,
          {
            accountId: input.debitAccountId,
            balanceFen: debit.balanceFen,
            amountFen: input.amountFen,
          },
        );
      }
      debit.balanceFen -= input.amountFen;
      credit.balanceFen += input.amountFen;
    }
  }

  const toInsert = inputs.filter((input) => !existing.has(input.id));
  if (toInsert.length > 0) {
    const { rows } = await applyTransfers(tx, toInsert);
    const inserted = new Map(rows.map((row) => [row.id, fromRow(row)]));
    return inputs.map((input) => {
      const fresh = inserted.get(input.id);
      if (fresh) return { transfer: fresh, replayed: false };
      return replayOf(existing.get(input.id)!, input);
    });
  }
  return inputs.map((input) => replayOf(existing.get(input.id)!, input));
}

export async function postTransfer(tx: Tx, input: TransferInput): Promise<PostedTransfer> {
  const [posted] = await postTransfers(tx, [input]);
  if (!posted) throw new Error('postTransfers returned nothing for one input');
  return posted;
}

async function openAccount(tx: Tx, id: string, kind: 'wallet' | 'escrow', ownerId: string): Promise<string> {
  await tx.query(
    `INSERT INTO accounts (id, kind, owner_id) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`,
    [id, kind, ownerId],
  );
  return id;
}

/** Opens a user's wallet if it does not exist yet (wallets appear on first deposit or first credit). */
export function ensureWallet(tx: Tx, userId: string): Promise<string> {
  return openAccount(tx, walletAccount(userId), 'wallet', userId);
}

export async function ensureWallets(tx: Tx, userIds: readonly string[]): Promise<void> {
  if (userIds.length === 0) return;
  const unique = [...new Set(userIds)].sort();
  await tx.query(
    `INSERT INTO accounts (id, kind, owner_id)
     SELECT wallet_account(u), 'wallet', u FROM unnest($1::text[]) AS u ORDER BY 1 ON CONFLICT (id) DO NOTHING`,
    [unique],
  );
}

/** Opens the escrow account of a packet; its only inflow is the pay transfer. */
export function openEscrow(tx: Tx, packetId: string): Promise<string> {
  return openAccount(tx, escrowAccount(packetId), 'escrow', packetId);
}
