/**
 * Large claims at once (seed 002: "settlement can be performed synchronously for large amounts"): a claim
 * at or above CREDIT_SYNC_MIN_FEN is credited right after its open commits, before the open answers, so the
 * answer says `creditStatus: credited`; the pumps then find it credited and skip it. The open itself is one
 * statement (open_share) that holds the packet's row lock only inside Postgres, so this is a second, short
 * transaction: it locks the claim row (which the pumps then skip) and then the accounts in id order, which
 * keeps the lock order. If it fails the claim stays queued and a pump credits it.
 */
import type { Db, Tx } from '../db';
import type { ClearingRoute } from './store/clearing';
import { creditLockedClaims, type CreditableClaim } from './store/credits';

/**
 * True when the claim was credited here; false when it is left to the credit pump (or the feature is off).
 * `route` (several cells): a recipient homed elsewhere is credited into clearing, as by the pump.
 */
export async function creditInOpen(
  tx: Tx,
  claim: CreditableClaim,
  syncMinFen: number,
  route?: ClearingRoute,
): Promise<boolean> {
  if (syncMinFen <= 0 || claim.amountFen < syncMinFen) return false;
  await creditLockedClaims(tx, [claim], route);
  return true;
}

/** After an open committed: credits a large claim in its own transaction; false when left to the pumps. */
export async function creditLargeClaim(
  db: Db,
  claim: CreditableClaim,
  syncMinFen: number,
  route?: ClearingRoute,
): Promise<boolean> {
  if (syncMinFen <= 0 || claim.amountFen < syncMinFen) return false;
  return db.withTransaction(async (tx) => {
    const { rows } = await tx.query<{ credited: boolean }>(
      'SELECT credited_at IS NOT NULL AS credited FROM claims WHERE day = day_of_id($1) AND id = $1 FOR UPDATE',
      [claim.id],
    );
    const row = rows[0];
    if (!row) return false;
    if (row.credited) return true;
    return creditInOpen(tx, claim, syncMinFen, route);
  });
}
