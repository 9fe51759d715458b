/**
 * The allocation rule (DESIGN "double average") has one owner: Postgres' share_from_draw
 * (db/functions/share_from_draw.sql), which open_share calls. These properties ask it directly, over whole
 * packets allocated inside Postgres, so no TypeScript copy of the rule is needed to check it.
 */
import fc from 'fast-check';
import { PgErrorCode, pgErrorCode } from '../../db';
import type { PacketType } from '../../domain/limits';
import { drawArbitrary, TOP_DRAW } from '../support/draws';
import { createHarness, type Harness } from '../support/harness';

interface PacketCase {
  type: PacketType;
  totalFen: number;
  count: number;
  draws: number[];
}

const packetArbitrary: fc.Arbitrary<PacketCase> = fc
  .record({
    type: fc.constantFrom<PacketType>('random', 'random', 'fixed'),
    count: fc.integer({ min: 1, max: 100 }),
    extraFen: fc.oneof(fc.integer({ min: 0, max: 19_900 }), fc.integer({ min: 0, max: 2 ** 40 })),
    eachFen: fc.integer({ min: 1, max: 200 }),
  })
  .chain(({ type, count, extraFen, eachFen }) =>
    fc.array(drawArbitrary, { minLength: count, maxLength: count }).map((draws) => ({
      type,
      count,
      totalFen: type === 'fixed' ? count * eachFen : count + extraFen,
      draws,
    })),
  );

interface DrawnShare {
  packet: number;
  beforeFen: number;
  beforeCount: number;
  shareFen: number;
}

describe('the allocation rule (share_from_draw)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  /** Allocates every packet to its last share in one statement, each share drawn by share_from_draw. */
  async function allocate(packets: PacketCase[]): Promise<DrawnShare[][]> {
    const offsets: number[] = [];
    let offset = 0;
    for (const packet of packets) {
      offsets.push(offset);
      offset += packet.count;
    }
    const { rows } = await h.db.query<DrawnShare>(
      `WITH RECURSIVE p AS (
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::int[], $4::int[]) WITH ORDINALITY AS p(t, total, n, o, i)),
       a(i, t, n, o, k, remaining_fen, share) AS (
         SELECT i, t, n, o, 0, total, 0::bigint FROM p
         UNION ALL
         SELECT a.i, a.t, a.n, a.o, a.k + 1, a.remaining_fen - s.share, s.share
           FROM a, LATERAL (SELECT share_from_draw(a.t, a.remaining_fen, a.n - a.k, ($5::float8[])[a.o + a.k + 1])
                              AS share) s
          WHERE a.k < a.n)
       SELECT i::int - 1 AS packet, remaining_fen + share AS "beforeFen", n - k + 1 AS "beforeCount",
              share AS "shareFen"
         FROM a WHERE k > 0 ORDER BY i, k`,
      [
        packets.map((p) => p.type),
        packets.map((p) => p.totalFen),
        packets.map((p) => p.count),
        offsets,
        packets.flatMap((p) => p.draws),
      ],
    );
    const byPacket = packets.map((): DrawnShare[] => []);
    for (const row of rows) byPacket[row.packet]?.push(row);
    return byPacket;
  }

  test('every share is in [1, 2 * remaining / count], keeps 1 fen for each later share, and the shares sum to the total', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(packetArbitrary, { minLength: 1, maxLength: 200 }), async (packets) => {
        const allocated = await allocate(packets);
        packets.forEach((packet, i) => {
          const shares = allocated[i] ?? [];
          expect(shares).toHaveLength(packet.count);
          expect(shares.reduce((sum, share) => sum + share.shareFen, 0)).toBe(packet.totalFen);
          for (const { beforeFen, beforeCount, shareFen } of shares) {
            expect(Number.isSafeInteger(shareFen) && shareFen >= 1).toBe(true);
            expect(beforeFen - shareFen).toBeGreaterThanOrEqual(beforeCount - 1);
            // The last share takes the rest; a fixed packet splits equally; a random share is at most double
            // the average of what remains.
            if (beforeCount === 1) expect(shareFen).toBe(beforeFen);
            else if (packet.type === 'fixed') expect(shareFen).toBe(packet.totalFen / packet.count);
            else expect(shareFen).toBeLessThanOrEqual(Math.floor((2 * beforeFen) / beforeCount));
          }
        });
      }),
      { numRuns: 10 },
    );
  });

  test('the draw spans the whole range: the lowest draw gives 1 fen, the highest the double-average cap', async () => {
    const share = async (type: PacketType, fen: number, count: number, draw: number) =>
      (
        await h.db.query<{ s: number }>('SELECT share_from_draw($1, $2, $3, $4) AS s', [
          type,
          fen,
          count,
          draw,
        ])
      ).rows[0]?.s;
    expect(await share('random', 1_000, 10, 0)).toBe(1);
    expect(await share('random', 1_000, 10, TOP_DRAW)).toBe(200);
    // With as many fen as shares left, every share is exactly 1 fen; a personal packet's one share is all.
    expect(await share('random', 5, 5, TOP_DRAW)).toBe(1);
    expect(await share('personal', 888, 1, 0.3)).toBe(888);
    expect(await share('random', 57, 1, 0)).toBe(57);
  });

  test('refuses to draw from fewer fen than shares, or with a draw outside [0, 1)', async () => {
    for (const [fen, count, draw] of [
      [2, 3, 0.5],
      [10, 2, 1],
      [10, 2, -0.1],
    ] as const) {
      const failure = await h.db
        .query('SELECT share_from_draw($1, $2, $3, $4)', ['random', fen, count, draw])
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      expect(pgErrorCode(failure)).toBe(PgErrorCode.CheckViolation);
    }
  });
});
