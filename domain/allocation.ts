/**
 * The TypeScript side of the allocation (seeds 002, 003): the uniform draw each open takes, and best luck.
 * The rule itself (double average: each share uniform in [1, 2 * remainingFen / remainingCount] fen, at least
 * 1 fen kept for every later share, the last share takes the rest, fixed packets split equally) has one
 * owner, Postgres' share_from_draw (db/functions/share_from_draw.sql), which open_share runs under the
 * packet's row lock; docs/rules.md says why.
 */

/** Returns an integer uniformly drawn from [min, maxExclusive); production passes crypto.randomInt. */
export type RandomInt = (min: number, maxExclusive: number) => number;

/** Draws are integers in [0, DRAW_SCALE) over DRAW_SCALE: crypto.randomInt's widest range (below 2^48). */
export const DRAW_SCALE = 2 ** 48 - 1;

/** A uniform draw in [0, 1) from an integer generator (production passes crypto.randomInt). */
export const drawFrom = (randomInt: RandomInt): number => randomInt(0, DRAW_SCALE) / DRAW_SCALE;

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
