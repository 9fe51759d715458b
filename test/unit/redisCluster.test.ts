/**
 * Redis Cluster configuration, and the rule the Cluster imposes on our scripts: every call's keys in one
 * hash slot, the first argument a key (ioredis routes a call and groups auto-pipelined calls by it).
 */
import calculateSlot from 'cluster-key-slot';
import { ConfigError, loadConfig } from '../../config';
import { createKeys } from '../../redis/keys';

describe('Redis Cluster configuration', () => {
  test('a plain REDIS_URL is one Redis', () => {
    expect(
      loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_CLUSTER_NODES: undefined }).redis.cluster,
    ).toBe(undefined);
  });

  test('REDIS_CLUSTER_NODES lists the seed nodes', () => {
    const { redis } = loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:7000, 10.0.0.2:7001,' });
    expect(redis.cluster).toEqual({
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
      ],
    });
  });

  test('a redis+cluster:// URL carries the seeds and the credentials', () => {
    const { redis } = loadConfig({
      REDIS_URL: 'redis+cluster://app:p%40ss@redis-a:7000,redis-b:7000/0',
      REDIS_CLUSTER_NODES: undefined,
    });
    expect(redis.cluster).toEqual({
      nodes: [
        { host: 'redis-a', port: 7000 },
        { host: 'redis-b', port: 7000 },
      ],
      username: 'app',
      password: 'p@ss',
    });
  });

  test.each([
    ['no port', { REDIS_CLUSTER_NODES: 'redis-a' }],
    ['a port out of range', { REDIS_CLUSTER_NODES: 'redis-a:70000' }],
    ['no node', { REDIS_URL: 'redis+cluster://', REDIS_CLUSTER_NODES: undefined }],
  ])('%s is a configuration error', (_label, env) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
  });
});

describe('keys of one packet', () => {
  test.each(['rp:', 'rp:n:', 'rp:test:abc:1f2e:'])(
    'with prefix %s, every key a gate script takes is in the packet slot, and clients are elsewhere',
    (prefix) => {
      const keys = createKeys(prefix);
      for (const packetId of ['n20261207000001', 's20261207999999', 'x1']) {
        const slots = new Set(
          [...keys.gateScript(packetId), keys.detail(packetId), keys.limitCounter('packet', packetId)].map(
            (key) => calculateSlot(key),
          ),
        );
        expect(slots).toEqual(new Set([calculateSlot(packetId)]));
        // The prefix is outside the braces, so a cell's prefix never moves a packet's slot.
        expect(keys.gate(packetId).startsWith(prefix)).toBe(true);
        expect(keys.gate(packetId).indexOf('{')).toBe(prefix.length);
      }
    },
  );
});
