/**
 * How much one opened share is worth (seeds 002, 003). Random packets use "double average": each share is
 * drawn uniformly from [1, 2 * remainingFen / remainingCount] fen, capped so every later share keeps at
 * least 1 fen, and the last share takes the rest. Fixed packets split equally; personal packets have one share.
 */
import type { PacketType } from './limits';

/** Returns an integer uniformly drawn from [min, maxExclusive); production passes crypto.randomInt. */
export type RandomInt = (min: number, maxExclusive: number) => number;

export function maxShareFen(remainingFen: number, remainingCount: number): number {
  const doubleAverage = Math.floor((2 * remainingFen) / remainingCount);
  const keepOneFenEach = remainingFen - (remainingCount - 1);
  return Math.max(1, Math.min(doubleAverage, keepOneFenEach));
}

/** Draws are integers in [0, DRAW_SCALE) over DRAW_SCALE: crypto.randomInt's widest range (below 2^48). */
export const DRAW_SCALE = 2 ** 48 - 1;

/** A uniform draw in [0, 1) from an integer generator (production passes crypto.randomInt). */
export const drawFrom = (randomInt: RandomInt): number => randomInt(0, DRAW_SCALE) / DRAW_SCALE;

/**
 * The allocation rule, given a uniform draw in [0, 1): the share a packet with `remainingFen` over
 * `remainingCount` shares gives its next opener. Postgres' share_from_draw (migration 0008) computes the
 * same number in the open statement; test/integration/openStatement.test.ts holds the two together. The
 * draw arithmetic is IEEE 754 double in both, so 1 + floor(draw * max) is the same integer.
 */
export function shareFromDraw(
  type: PacketType,
  remainingFen: number,
  remainingCount: number,
  draw: number,
): number {
  if (
    !Number.isSafeInteger(remainingFen) ||
    !Number.isSafeInteger(remainingCount) ||
    remainingCount < 1 ||
    remainingFen < remainingCount
  ) {
    throw new RangeError(`cannot draw a share from ${remainingFen} fen over ${remainingCount} shares`);
  }
  if (!(draw >= 0 && draw < 1)) throw new RangeError(`a draw is a number in [0, 1), not ${draw}`);
  if (remainingCount === 1) return remainingFen;
  if (type === 'fixed') {
    if (remainingFen % remainingCount !== 0) throw new RangeError('a fixed packet no longer divides evenly');
    return remainingFen / remainingCount;
  }
  if (type === 'personal') return remainingFen;
  const maxFen = maxShareFen(remainingFen, remainingCount);
  return Math.min(maxFen, 1 + Math.floor(draw * maxFen));
}

/** shareFromDraw with a draw from `randomInt` (the traditional design's reference and the unit tests). */
export function drawShareFen(
  type: PacketType,
  remainingFen: number,
  remainingCount: number,
  randomInt: RandomInt,
): number {
  return shareFromDraw(type, remainingFen, remainingCount, drawFrom(randomInt));
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
