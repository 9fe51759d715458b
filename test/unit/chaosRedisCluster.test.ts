/** `npm run chaos -- --redis-cluster`: which fault kinds a run on a Redis Cluster takes, and which it refuses. */
import { FAULT_KINDS, parseOptions } from '../../chaos/options';

describe('chaos on a Redis Cluster', () => {
  test('by default a run has one Redis and the dev server: every kind but the master and node kills', () => {
    const { faults, redisCluster } = parseOptions(['--quick']);
    expect(redisCluster).toBe(false);
    expect(faults).toEqual(
      FAULT_KINDS.filter((kind) => kind !== 'redis-master-kill' && kind !== 'temporal-node-kill'),
    );
  });

  test('both clusters at once take both cluster kinds', () => {
    const { faults } = parseOptions(['--quick', '--redis-cluster', '--temporal', 'cluster']);
    expect(faults).toEqual(expect.arrayContaining(['redis-master-kill', 'temporal-node-kill']));
    expect(faults).not.toContain('redis-wipe');
  });

  test('--redis-cluster kills masters instead of wiping or cutting the one Redis', () => {
    const { faults, redisCluster, seed } = parseOptions(['--quick', '--redis-cluster']);
    expect(redisCluster).toBe(true);
    expect(seed).toBe(18);
    expect(faults).toContain('redis-master-kill');
    expect(faults).not.toContain('redis-wipe');
    expect(faults).not.toContain('cut-api-redis');
  });

  test.each([
    [['--faults', 'redis-master-kill'], /needs --redis-cluster/],
    [['--redis-cluster', '--faults', 'redis-wipe,api-kill'], /redis-wipe needs one Redis/],
    [['--cells', '--redis-cluster'], /not for --cells/],
  ])('%j is refused', (argv, message) => {
    expect(() => parseOptions(argv)).toThrow(message);
  });
});
