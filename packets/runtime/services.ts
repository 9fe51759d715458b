/**
 * A cell's per-process packet machinery, and the one value every packet use case takes (`PacketCell`): its
 * database, Redis, Temporal client, configuration, rate limits and these services. Nothing on the request
 * path is a module-level singleton, so two cells (two schemas, two key prefixes) can live in one process or
 * one test (test/integration/twoCells.test.ts).
 */
import type { Config } from '../../config';
import type { Db } from '../../db';
import type { RedisDeps } from '../../redis';
import type { TemporalDeps } from '../../temporal/client';
import type { Admission } from '../admission';
import { createOpenBatcher, type OpenBatcher } from '../open';
import { PacketDetailCache } from './detailCache';

export interface PacketServices {
  /** The open statement's per-packet batcher (packets/open.ts owns it). */
  opens: OpenBatcher;
  cache: PacketDetailCache;
}

export function createPacketServices(deps: { db: Db; redis: RedisDeps }): PacketServices {
  return { opens: createOpenBatcher(deps.db), cache: new PacketDetailCache(deps.db, deps.redis) };
}

/** Everything a packet use case needs of its cell, as one value; api/context.ts's AppContext is one. */
export interface PacketCell<L> extends Admission<L> {
  config: Config;
  db: Db;
  redis: RedisDeps;
  temporal: TemporalDeps;
  packets: PacketServices;
}
