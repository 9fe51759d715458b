import fc from 'fast-check';
import { bestLuck, drawShareFen, maxShareFen, type RandomInt } from '../../domain/allocation';
import type { PacketType } from '../../domain/limits';

/** A seeded generator (mulberry32), so each fast-check case replays exactly from its seed. */
function seededRandomInt(seed: number): RandomInt {
  let state = seed >>> 0;
  return (min, maxExclusive) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const unit = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    return min + Math.floor(unit * (maxExclusive - min));
  };
}

/** Allocates a whole packet, throwing at the first draw that breaks a bound (plain checks: this runs ~5M times). */
function allocate(type: PacketType, totalFen: number, count: number, randomInt: RandomInt): number[] {
  const shares: number[] = [];
  let remainingFen = totalFen;
  for (let remainingCount = count; remainingCount > 0; remainingCount--) {
    const share = drawShareFen(type, remainingFen, remainingCount, randomInt);
    // The double-average bound and the 1-fen floor for every later share, checked at each draw.
    if (type === 'random' && remainingCount > 1 && share > Math.floor((2 * remainingFen) / remainingCount)) {
      throw new Error(`share ${share} exceeds twice the average of ${remainingFen} over ${remainingCount}`);
    }
    if (remainingFen - share < remainingCount - 1)
      throw new Error(`share ${share} leaves less than 1 fen for a later share`);
    shares.push(share);
    remainingFen -= share;
  }
  return shares;
}

const packetArbitrary = fc
  .record({
    count: fc.integer({ min: 1, max: 100 }),
    extraFen: fc.integer({ min: 0, max: 19_900 }),
    seed: fc.integer(),
  })
  .map(({ count, extraFen, seed }) => ({ count, totalFen: Math.min(20_000, count + extraFen), seed }));

describe('allocation', () => {
  test('random packets: over 100,000 packets every share is at least 1 fen, the count is exact and the shares sum to the total', () => {
    fc.assert(
      fc.property(packetArbitrary, ({ count, totalFen, seed }) => {
        const shares = allocate('random', totalFen, count, seededRandomInt(seed));
        return (
          shares.length === count &&
          shares.every((share) => Number.isSafeInteger(share) && share >= 1) &&
          shares.reduce((a, b) => a + b, 0) === totalFen
        );
      }),
      { numRuns: 100_000 },
    );
  });

  test('fixed packets split equally', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 200 }), (count, eachFen) => {
        expect(allocate('fixed', count * eachFen, count, () => 0)).toEqual(
          Array.from({ length: count }, () => eachFen),
        );
      }),
    );
  });

  test('a personal packet gives its one share everything', () => {
    expect(drawShareFen('personal', 888, 1, () => 0)).toBe(888);
  });

  test('the last share takes the rest', () => {
    expect(drawShareFen('random', 57, 1, () => 1)).toBe(57);
  });

  test('with as many fen as shares left, every share is exactly 1 fen', () => {
    expect(maxShareFen(5, 5)).toBe(1);
    expect(drawShareFen('random', 5, 5, (min) => min)).toBe(1);
  });

  test('refuses to draw from fewer fen than shares', () => {
    expect(() => drawShareFen('random', 2, 3, () => 1)).toThrow(RangeError);
  });

  test('best luck is the largest share, earliest on a tie, and only once every share is claimed', () => {
    const claims = [
      { id: 'a', seq: 1, amountFen: 30 },
      { id: 'b', seq: 2, amountFen: 50 },
      { id: 'c', seq: 3, amountFen: 50 },
    ];
    expect(bestLuck(claims, 3)?.id).toBe('b');
    expect(bestLuck(claims, 4)).toBeUndefined();
  });
});
