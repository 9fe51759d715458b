/**
 * A user's balance with several cells (docs/cells.md, "Wallet balances say what is pending"): the wallet
 * lives in the user's home cell, but shares they opened in another cell's packets are still on their way
 * until that cell has credited them into clearing and delivered them here. The home cell asks every other
 * cell (its internal endpoint, `pendingFrom`) what it still owes the user, all at once and each with a short
 * timeout, and adds the answers to `pendingFen`; a cell that does not answer in time is named in
 * `pendingUnknownCells`, so the answer never pretends to know what it could not ask. With one cell this is
 * getBalance, unchanged.
 */
import type { CellSettings } from '../config';
import type { Queryable } from '../db';
import { pendingFrom } from './cellClient';
import { getBalance, type Balance } from './reads';

/** A balance waits this long at most for another cell, so a cell that is down costs a balance little. */
export const PENDING_LOOKUP_TIMEOUT_MS = 500;

export interface BalanceAcrossCells extends Balance {
  /** Cells that did not say what they owe this user (down or slow): their part of pendingFen is unknown. */
  pendingUnknownCells?: string[];
}

export async function balanceAcrossCells(
  db: Queryable,
  cells: Pick<CellSettings, 'self' | 'all' | 'urls' | 'internalToken' | 'forwardTimeoutMs'>,
  userId: string,
): Promise<BalanceAcrossCells> {
  const others = cells.all.filter((cell) => cell !== cells.self);
  const { internalToken } = cells;
  if (others.length === 0 || !internalToken) return getBalance(db, userId);
  const timeoutMs = Math.min(PENDING_LOOKUP_TIMEOUT_MS, cells.forwardTimeoutMs);
  const [balance, ...owed] = await Promise.all([
    getBalance(db, userId),
    ...others.map((cell) => {
      const url = cells.urls[cell];
      if (!url) return Promise.resolve(undefined);
      return pendingFrom(url, internalToken, userId, timeoutMs).catch(() => undefined);
    }),
  ]);
  const unknown = others.filter((_, index) => owed[index] === undefined);
  const elsewhereFen = owed.reduce<number>((sum, fen) => sum + (fen ?? 0), 0);
  return { ...balance, pendingFen: balance.pendingFen + elsewhereFen, pendingUnknownCells: unknown };
}
