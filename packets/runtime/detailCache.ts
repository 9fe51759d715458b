/**
 * Two-level cache of packet snapshots (seed 002): a small in-process map in front of Redis in front of
 * Postgres. An open in this process drops both levels for its packet; other replicas see the change when
 * their short local entry expires. Redis being away only means reads go to Postgres.
 */
import type { Db } from '../../db';
import type { RedisDeps } from '../../redis';
import { loadSnapshot, type PacketSnapshot } from '../detail';

export interface DetailCacheOptions {
  localTtlMs: number;
  redisTtlMs: number;
  maxLocalEntries: number;
}

export const DEFAULT_DETAIL_CACHE: DetailCacheOptions = {
  localTtlMs: 1_000,
  redisTtlMs: 10_000,
  maxLocalEntries: 10_000,
};

export class PacketDetailCache {
  private readonly local = new Map<string, { snapshot: PacketSnapshot; expiresAtMs: number }>();
  readonly stats = { localHits: 0, redisHits: 0, misses: 0 };

  constructor(
    private readonly db: Db,
    private readonly redis: RedisDeps,
    private readonly options: DetailCacheOptions = DEFAULT_DETAIL_CACHE,
  ) {}

  async get(packetId: string): Promise<PacketSnapshot | undefined> {
    const nowMs = Date.now();
    const local = this.local.get(packetId);
    if (local && local.expiresAtMs > nowMs) {
      this.stats.localHits++;
      return local.snapshot;
    }
    const key = this.redis.keys.detail(packetId);
    const cached = await this.redis.client.get(key).catch(() => null);
    if (cached) {
      this.stats.redisHits++;
      const snapshot = JSON.parse(cached) as PacketSnapshot;
      this.remember(packetId, snapshot, nowMs);
      return snapshot;
    }
    this.stats.misses++;
    const snapshot = await loadSnapshot(this.db, packetId);
    // Unknown ids are not cached: ids are allocated ahead of payment, so "unknown" may soon become "paid".
    if (!snapshot) return undefined;
    this.remember(packetId, snapshot, nowMs);
    await this.redis.client
      .set(key, JSON.stringify(snapshot), 'PX', this.options.redisTtlMs)
      .catch(() => undefined);
    return snapshot;
  }

  async invalidate(packetId: string): Promise<void> {
    this.local.delete(packetId);
    await this.redis.client.unlink(this.redis.keys.detail(packetId)).catch(() => undefined);
  }

  private remember(packetId: string, snapshot: PacketSnapshot, nowMs: number): void {
    if (this.local.size >= this.options.maxLocalEntries) {
      // Maps iterate in insertion order, so the first key is the oldest entry.
      const oldest = this.local.keys().next().value;
      if (oldest !== undefined) this.local.delete(oldest);
    }
    this.local.set(packetId, { snapshot, expiresAtMs: nowMs + this.options.localTtlMs });
  }
}
