/** Draws for the allocation's properties: what open_share's third argument can be. */
import fc from 'fast-check';
import { DRAW_SCALE } from '../../domain/allocation';

/** Uniform draws as production makes them, and any double in [0, 1), with the edges. */
export const drawArbitrary = fc.oneof(
  fc.integer({ min: 0, max: DRAW_SCALE - 1 }).map((k) => k / DRAW_SCALE),
  fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
  fc.constantFrom(0, (DRAW_SCALE - 1) / DRAW_SCALE, 1 - Number.EPSILON / 2, 0.5),
);

/** The largest double below 1: the draw that gives a random share its cap. */
export const TOP_DRAW = 1 - Number.EPSILON / 2;
