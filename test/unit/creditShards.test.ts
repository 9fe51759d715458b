/**
 * A shard is a range of the packet id's hash: the range the pump's SQL reads (shardHashRange) and the shard
 * a NOTIFY payload wakes (shardOfHash) must be the same partition of the hash space, for any shard count.
 */
import { shardHashRange, shardOfHash } from '../../packets/store/credits';

const HASH_MAX = 2 ** 31 - 1;

describe('credit shards', () => {
  test.each([1, 2, 3, 7, 16, 1000])(
    '%i shards cut the hash space into adjacent ranges that shardOfHash agrees with',
    (shards) => {
      let next = 0;
      for (let shard = 0; shard < shards; shard++) {
        const [lo, hi] = shardHashRange({ shard, shards });
        expect(lo).toBe(next);
        expect(hi).toBeGreaterThanOrEqual(lo);
        expect([shardOfHash(lo, shards), shardOfHash(hi, shards)]).toEqual([shard, shard]);
        if (lo > 0) expect(shardOfHash(lo - 1, shards)).toBe(shard - 1);
        next = hi + 1;
      }
      expect(next - 1).toBe(HASH_MAX);
    },
  );
});
