/**
 * The TypeScript side of the allocation: the draw and best luck. The rule that turns a draw into a share is
 * Postgres' share_from_draw alone; its properties are in test/integration/allocation.test.ts.
 */
import { bestLuck, drawFrom, DRAW_SCALE } from '../../domain/allocation';

describe('allocation', () => {
  test('a draw is in [0, 1), from the lowest to the highest integer the generator can give', () => {
    expect(drawFrom((min) => min)).toBe(0);
    const top = drawFrom((_min, maxExclusive) => maxExclusive - 1);
    expect(top).toBeLessThan(1);
    expect(top).toBe((DRAW_SCALE - 1) / DRAW_SCALE);
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
