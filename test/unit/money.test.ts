import fc from 'fast-check';
import { DomainError, ErrorCode, isDomainError } from '../../domain/errors';
import { assertAmountFen, FEN_PER_YUAN, isValidAmountFen, sumFen } from '../../domain/money';

describe('amounts in fen', () => {
  test.each([
    ['zero', 0],
    ['a negative amount', -1],
    ['a fractional amount', 1.5],
    ['a tiny fraction', Number.EPSILON],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['an unsafe integer', Number.MAX_SAFE_INTEGER + 1],
    ['a numeric string', '100'],
    ['a bigint', 100n],
    ['null', null],
    ['undefined', undefined],
    ['a boxed number', Object(100)],
  ])('%s is not an amount', (_label, value) => {
    expect(isValidAmountFen(value)).toBe(false);
    expect(() => assertAmountFen(value)).toThrow(DomainError);
  });

  test('a refused amount is a typed InvalidAmount error naming the field', () => {
    let caught: unknown;
    try {
      assertAmountFen(-5, 'totalFen');
    } catch (err) {
      caught = err;
    }
    expect(isDomainError(caught, ErrorCode.InvalidAmount)).toBe(true);
    expect((caught as DomainError).details).toEqual({ totalFen: '-5' });
    expect((caught as DomainError).message).toContain('totalFen');
  });

  test('one fen and the largest safe integer are amounts', () => {
    expect(isValidAmountFen(1)).toBe(true);
    expect(isValidAmountFen(Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(() => assertAmountFen(FEN_PER_YUAN)).not.toThrow();
  });

  test('every positive safe integer is an amount and every other double is not', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (amountFen) =>
        isValidAmountFen(amountFen),
      ),
    );
    fc.assert(
      fc.property(
        fc.double().filter((value) => !(Number.isSafeInteger(value) && value > 0)),
        (value) => !isValidAmountFen(value),
      ),
    );
  });

  test('a yuan is one hundred fen', () => {
    expect(FEN_PER_YUAN).toBe(100);
  });
});

describe('sumFen', () => {
  test('adds amounts and gives 0 for none', () => {
    expect(sumFen([])).toBe(0);
    expect(sumFen([1, 2, 3])).toBe(6);
  });

  test('refuses to leave the safe-integer range instead of rounding silently', () => {
    expect(() => sumFen([Number.MAX_SAFE_INTEGER, 1])).toThrow(RangeError);
  });
});
