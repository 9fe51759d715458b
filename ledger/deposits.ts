/**
 * Deposits are how money enters the system: a transfer from the external funding account into a user's
 * wallet. The caller's key makes it idempotent, so an admin retrying a request after a timeout funds the
 * wallet once. The transfer id carries the day the key was first used, `deposit:<yyyymmdd>:<key>`
 * (deposit_transfer_id in db/functions, which remembers every key's id), so deposits live in their day's
 * partition like every other transfer (docs/day-tables.md).
 */
import { pgErrorCode, PgErrorCode, type Db } from '../db';
import { assertUserId, EXTERNAL_FUNDING_ACCOUNT } from '../domain/accounts';
import { DomainError, ErrorCode } from '../domain/errors';
import { assertAmountFen } from '../domain/money';
import { ensureWallet, postTransfer, type PostedTransfer } from './transfers';

/** Visible ASCII only: keys end up inside transfer ids, logs and URLs, where spaces and controls mislead. */
export const DEPOSIT_KEY_PATTERN = /^[\x21-\x7e]{1,100}$/;

export interface DepositInput {
  /** The caller's idempotency key: the same key always names the same deposit. */
  key: string;
  userId: string;
  amountFen: number;
}

export function assertDepositKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || !DEPOSIT_KEY_PATTERN.test(key)) {
    throw new DomainError(ErrorCode.InvalidAccount, 'a deposit key is 1-100 visible ASCII characters');
  }
}

/**
 * Funds `userId`'s wallet with `amountFen`, opening the wallet on first use. Replaying a key returns the
 * original transfer and moves nothing; the same key with another user or amount is a TransferConflict.
 * Every input is checked before the transaction opens, so a refusal writes nothing.
 */
export async function deposit(db: Db, input: DepositInput): Promise<PostedTransfer> {
  assertDepositKey(input.key);
  assertUserId(input.userId);
  assertAmountFen(input.amountFen);
  return db.withTransaction(async (tx) => {
    const walletId = await ensureWallet(tx, input.userId);
    const { rows } = await tx
      .query<{ id: string }>('SELECT deposit_transfer_id($1) AS id', [input.key])
      .catch((err: unknown) => {
        // The key's deposit is on an archived day: it was made once, and is neither made again nor replayed.
        if (pgErrorCode(err) !== PgErrorCode.DayArchived) throw err;
        throw new DomainError(
          ErrorCode.DayArchived,
          'this key made a deposit on a day now archived',
          {},
          { cause: err },
        );
      });
    const id = rows[0]?.id;
    if (id === undefined) throw new Error('deposit_transfer_id returned no id');
    return postTransfer(tx, {
      id,
      debitAccountId: EXTERNAL_FUNDING_ACCOUNT,
      creditAccountId: walletId,
      amountFen: input.amountFen,
      kind: 'deposit',
    });
  });
}
