import fc from 'fast-check';
import {
  cellOfBucket,
  cellOfPacketId,
  HOME_BUCKETS,
  homeBucketOf,
  homeCellOf,
  packetIdNotOf,
} from '../../domain/cells';
import { formatPacketId } from '../../packets/gate/ids';

describe('the home map', () => {
  test('a user id always hashes to the same bucket, in range', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/), (userId) => {
        const bucket = homeBucketOf(userId);
        expect(bucket).toBe(homeBucketOf(userId));
        expect(Number.isInteger(bucket) && bucket >= 0 && bucket < HOME_BUCKETS).toBe(true);
      }),
    );
  });

  test('version 1 is pinned: these users keep these buckets and homes on every machine', () => {
    // Changing the hash or the bucket count moves wallets between cells: this test must fail first.
    const pinned = { alice: 1, bob: 12, carol: 43, 'u-1': 53 };
    for (const [userId, bucket] of Object.entries(pinned)) expect(homeBucketOf(userId)).toBe(bucket);
    expect(homeCellOf('alice', ['n', 's'])).toBe('n');
    expect(homeCellOf('u-1', ['n', 's'])).toBe('s');
  });

  test('two cells split the buckets in half, in the order listed; one cell owns them all', () => {
    expect(cellOfBucket(0, ['n', 's'])).toBe('n');
    expect(cellOfBucket(49, ['n', 's'])).toBe('n');
    expect(cellOfBucket(50, ['n', 's'])).toBe('s');
    expect(cellOfBucket(99, ['n', 's'])).toBe('s');
    for (let b = 0; b < HOME_BUCKETS; b += 1) expect(cellOfBucket(b, ['cn1'])).toBe('cn1');
    expect(() => cellOfBucket(100, ['n', 's'])).toThrow();
    expect(() => cellOfBucket(0, [])).toThrow();
  });

  test('users spread over both cells about evenly', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 2_000; i += 1) {
      const cell = homeCellOf(`user-${i}`, ['n', 's']);
      counts.set(cell, (counts.get(cell) ?? 0) + 1);
    }
    expect(counts.get('n')).toBeGreaterThan(800);
    expect(counts.get('s')).toBeGreaterThan(800);
  });
});

describe('the cell in a packet id', () => {
  test('is the region the id was made with, for either id source', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z0-9]{1,8}$/),
        fc.constantFrom<'r' | 'p'>('r', 'p'),
        fc.integer({ min: 0, max: 99_999_999_999 }),
        (region, source, n) => {
          expect(cellOfPacketId(formatPacketId('20261207', region, source, n))).toBe(region);
        },
      ),
    );
  });

  test('is undefined for ids of another shape', () => {
    for (const id of ['', 'abc', '20261207r00000000001abcdefghijklm', 'x'.repeat(30)]) {
      expect(cellOfPacketId(id)).toBeUndefined();
    }
  });
});

describe("the hot lane's cell check", () => {
  test('packetIdNotOf agrees with cellOfPacketId for every id the service makes', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z0-9]{1,8}$/),
        fc.stringMatching(/^[a-z0-9]{1,8}$/),
        fc.constantFrom<'r' | 'p'>('r', 'p'),
        fc.integer({ min: 0, max: 99_999_999_999 }),
        (region, cell, source, n) => {
          const packetId = formatPacketId('20261207', region, source, n);
          expect(packetIdNotOf(packetId, cell)).toBe(cellOfPacketId(packetId) !== cell);
        },
      ),
    );
  });
});
