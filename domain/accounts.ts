/** Account ids are derived from what they belong to, so any process can name an account without a lookup. */
import { DomainError, ErrorCode } from './errors';

export const EXTERNAL_FUNDING_ACCOUNT = 'external:funding';

/** User ids come from token subjects: short, printable, no separators that could forge another id. */
export const USER_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function assertUserId(userId: string): void {
  if (!USER_ID_PATTERN.test(userId)) {
    throw new DomainError(ErrorCode.InvalidAccount, 'user ids are 1-64 letters, digits, _ or -', { userId });
  }
}

export const walletAccount = (userId: string): string => `wallet:${userId}`;
export const escrowAccount = (packetId: string): string => `escrow:${packetId}`;

/**
 * A clearing account (docs/cells.md): what this cell owes `otherCell` (credited by claims of its packets whose
 * recipients are homed there) or, on the home side, what it paid out of `otherCell`'s packets (negative). One
 * per direction and lane, so the pumps of different lanes never wait on one row. Its owner id is
 * `<otherCell>:<lane>`.
 */
export const clearingOwner = (otherCell: string, lane: number): string => `${otherCell}:${lane}`;
export const clearingAccount = (otherCell: string, lane: number): string =>
  `clearing:${clearingOwner(otherCell, lane)}`;

export const transferIds = {
  deposit: (key: string) => `deposit:${key}`,
  pay: (packetId: string) => `pay:${packetId}`,
  credit: (claimId: string) => `credit:${claimId}`,
  refund: (packetId: string) => `refund:${packetId}`,
  /** In the recipient's home cell: a cross-cell credit, from clearing into the wallet. */
  xcredit: (claimId: string) => `xcredit:${claimId}`,
} as const;
