/** Money is integer fen (CNY minor unit) end to end; these guards keep floats and unsafe integers out. */
import { DomainError, ErrorCode } from './errors';

/** 1 yuan = 100 fen. */
export const FEN_PER_YUAN = 100;

export function isValidAmountFen(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

/** Throws a typed error unless `value` is a positive safe integer number of fen. */
export function assertAmountFen(value: unknown, what = 'amountFen'): asserts value is number {
  if (!isValidAmountFen(value)) {
    throw new DomainError(ErrorCode.InvalidAmount, `${what} must be a positive whole number of fen`, {
      [what]: String(value),
    });
  }
}

/** Sums fen amounts, refusing to leave the safe-integer range. */
export function sumFen(amounts: readonly number[]): number {
  let total = 0;
  for (const amount of amounts) {
    total += amount;
    if (!Number.isSafeInteger(total)) throw new RangeError('fen sum left the safe-integer range');
  }
  return total;
}
