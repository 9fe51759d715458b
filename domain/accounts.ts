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

export const transferIds = {
  deposit: (key: string) => `deposit:${key}`,
  pay: (packetId: string) => `pay:${packetId}`,
  credit: (claimId: string) => `credit:${claimId}`,
  refund: (packetId: string) => `refund:${packetId}`,
} as const;
