/**
 * Large claims at once (seed 002: "settlement can be performed synchronously for large amounts"): a claim
 * at or above CREDIT_SYNC_MIN_FEN is credited inside the open transaction, so the open can answer
 * `creditStatus: credited`; the pumps then find it credited and skip it. Call it in the open transaction
 * right after the claim INSERT: the packet row is locked and the claim is this transaction's own row, so
 * the accounts (locked in id order by postTransfers) come last and the lock order holds.
 */
import type { Tx } from '../db';
import { creditLockedClaims, type CreditableClaim } from './creditStore';

/** True when the claim was credited here; false when it is left to the credit pump (or the feature is off). */
export async function creditInOpen(tx: Tx, claim: CreditableClaim, syncMinFen: number): Promise<boolean> {
  if (syncMinFen <= 0 || claim.amountFen < syncMinFen) return false;
  await creditLockedClaims(tx, [claim]);
  return true;
}
