/**
 * The only importer of ioredis. Clients fail fast while Redis is down (no offline queue, one retry per
 * request) because every caller has a Postgres fallback and must not hang waiting for Redis to return.
 * With `config.redis.cluster` the client is an ioredis Cluster (docs/redis-cluster.md): every script's
 * keys are in one slot and its first argument is a key, so a call goes to its packet's node.
 */
import Redis, { Cluster } from 'ioredis';
import type { Config } from '../config';
import { defineCommands, scriptsOf, type ScriptCommands } from './commands';
import { createKeys, type Keys } from './keys';

export type RedisClient = Redis | Cluster;

export interface RedisDeps {
  client: RedisClient;
  keys: Keys;
  scripts: ScriptCommands;
  close(): Promise<void>;
}

const RECONNECT_MAX_DELAY_MS = 2_000;
const CONNECT_TIMEOUT_MS = 2_000;
const reconnectDelayMs = (attempt: number) => Math.min(attempt * 100, RECONNECT_MAX_DELAY_MS);

function createClient(config: Pick<Config, 'redis'>, lazyConnect: boolean): RedisClient {
  // Commands issued in one event-loop turn go out in one write (per node on a Cluster): in a storm hundreds
  // of grabs reach their gate script per turn, and a write per command was the API's costliest call
  // (measured: 15-20 % less API CPU per grab with it on).
  const seeds = config.redis.cluster;
  if (!seeds) {
    return new Redis(config.redis.url, {
      lazyConnect,
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      maxRetriesPerRequest: 1,
      connectTimeout: CONNECT_TIMEOUT_MS,
      retryStrategy: reconnectDelayMs,
    });
  }
  return new Cluster(seeds.nodes, {
    lazyConnect,
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    // Reads go to masters too: the gate is read and written by the same scripts, and a replica may lag.
    scaleReads: 'master',
    clusterRetryStrategy: reconnectDelayMs,
    // A master that stops answering fails its calls at once (no retry on a closed connection), so a grab on
    // its slots degrades to Postgres in milliseconds instead of waiting on the dead node: measured here, a
    // call to a SIGKILLed master failed in 1-8 ms, against 0.3-0.7 s with ioredis' retry on. The slot map is
    // refreshed every second and on MOVED, so the promoted replica is used within about a second of the
    // failover (docs/redis-cluster.md).
    retryDelayOnClusterDown: 100,
    retryDelayOnFailover: 0,
    retryDelayOnMoved: 0,
    maxRedirections: 4,
    slotsRefreshTimeout: CONNECT_TIMEOUT_MS,
    slotsRefreshInterval: 1_000,
    redisOptions: {
      connectTimeout: CONNECT_TIMEOUT_MS,
      maxRetriesPerRequest: 1,
      ...(seeds.username ? { username: seeds.username } : {}),
      ...(seeds.password !== undefined ? { password: seeds.password } : {}),
    },
  });
}

export function createRedis(
  config: Pick<Config, 'redis'>,
  options: { lazyConnect?: boolean } = {},
): RedisDeps {
  const client = createClient(config, options.lazyConnect ?? false);
  // Connection errors are reported through readiness and per-request failures, not as process crashes.
  client.on('error', () => undefined);
  defineCommands(client);
  return {
    client,
    keys: createKeys(config.redis.keyPrefix),
    scripts: scriptsOf(client),
    close: async () => {
      client.disconnect();
      await Promise.resolve();
    },
  };
}

/** The servers a scan must visit: every master of a Cluster, or the one Redis. */
export function scanTargets(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client];
}

/**
 * Deletes every key under the prefix (tests and resets), in bounded SCAN batches on every master. Keys
 * are unlinked one per command: a batch spans slots, which a Cluster refuses in one UNLINK.
 */
export async function deleteByPrefix(client: RedisClient, keys: Keys): Promise<number> {
  let deleted = 0;
  for (const node of scanTargets(client)) {
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', keys.pattern(), 'COUNT', 500);
      cursor = next;
      const unlinked = await Promise.all(batch.map((key) => node.unlink(key)));
      deleted += unlinked.reduce((sum, n) => sum + n, 0);
    } while (cursor !== '0');
  }
  return deleted;
}
