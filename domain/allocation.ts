/**
 * How much one opened share is worth (seeds 002, 003). Random packets use "double average": each share is
 * drawn uniformly from [1, 2 * remainingFen / remainingCount] fen, capped so every later share keeps at
 * least 1 fen, and the last share takes the rest. Fixed packets split equally; personal packets have one share.
 */
import type { PacketType } from './limits';

/** Returns an integer uniformly drawn from [min, max] inclusive; production passes crypto.randomInt. */
export type RandomInt = (min: number, maxExclusive: number) => number;

export function maxShareFen(remainingFen: number, remainingCount: number): number {
  const doubleAverage = Math.floor((2 * remainingFen) / remainingCount);
  const keepOneFenEach = remainingFen - (remainingCount - 1);
  return Math.max(1, Math.min(doubleAverage, keepOneFenEach));
}

export function drawShareFen(
  type: PacketType,
  remainingFen: number,
  remainingCount: number,
  randomInt: RandomInt,
): number {
  if (
    !Number.isSafeInteger(remainingFen) ||
    !Number.isSafeInteger(remainingCount) ||
    remainingCount < 1 ||
    remainingFen < remainingCount
  ) {
    throw new RangeError(`cannot draw a share from ${remainingFen} fen over ${remainingCount} shares`);
  }
  if (remainingCount === 1) return remainingFen;
  if (type === 'fixed') {
    if (remainingFen % remainingCount !== 0) throw new RangeError('a fixed packet no longer divides evenly');
    return remainingFen / remainingCount;
  }
  if (type === 'personal') return remainingFen;
  return randomInt(1, maxShareFen(remainingFen, remainingCount) + 1);
}

/** Best luck: the largest share, earliest on a tie; undefined while shares remain unclaimed. */
export function bestLuck<T extends { amountFen: number; seq: number }>(
  claims: readonly T[],
  shareCount: number,
): T | undefined {
  if (claims.length < shareCount) return undefined;
  let best: T | undefined;
  for (const claim of claims) {
    if (
      !best ||
      claim.amountFen > best.amountFen ||
      (claim.amountFen === best.amountFen && claim.seq < best.seq)
    )
      best = claim;
  }
  return best;
}
