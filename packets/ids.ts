/**
 * Packet ids are pre-allocated before payment (seed 002): `<yyyymmdd><region>r<11 digits>` from a Redis
 * counter per day and region, or `<yyyymmdd><region>p<11 digits>` from a Postgres sequence while Redis is
 * down. The two sources carry different markers so they can never hand out the same id.
 */
import type { Db } from '../db';
import type { RedisDeps } from '../redis';

const DAY_MS = 86_400_000;
const COUNTER_TTL_MS = 2 * DAY_MS;
const DIGITS = 11;
export const PACKET_ID_PATTERN = /^\d{8}[a-z0-9]{1,8}[rp]\d{11}$/;

function utcDay(nowMs: number): { day: string; msIntoDay: number } {
  const date = new Date(nowMs);
  const day = date.toISOString().slice(0, 10).replace(/-/g, '');
  return { day, msIntoDay: nowMs % DAY_MS };
}

export function formatPacketId(day: string, region: string, source: 'r' | 'p', n: number): string {
  return `${day}${region}${source}${String(n).padStart(DIGITS, '0')}`;
}

export interface AllocatedId {
  packetId: string;
  source: 'redis' | 'postgres';
}

export async function allocatePacketId(
  deps: { db: Db; redis: RedisDeps; region: string },
  nowMs = Date.now(),
): Promise<AllocatedId> {
  const { day, msIntoDay } = utcDay(nowMs);
  try {
    const n = await deps.redis.scripts.nextPacketId(
      deps.redis.keys.packetIdCounter(day, deps.region),
      msIntoDay * 1000,
      COUNTER_TTL_MS,
    );
    return { packetId: formatPacketId(day, deps.region, 'r', n), source: 'redis' };
  } catch {
    // Redis is the fast path, never the authority: the sequence keeps sends working while it is away.
    const { rows } = await deps.db.query<{ n: number }>("SELECT nextval('packet_id_seq') AS n");
    const n = rows[0]?.n;
    if (n === undefined) throw new Error('packet_id_seq returned no value');
    return { packetId: formatPacketId(day, deps.region, 'p', n), source: 'postgres' };
  }
}
