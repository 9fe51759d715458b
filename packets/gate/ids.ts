/**
 * Packet ids are pre-allocated before payment (seed 002). An id has two parts:
 *
 *   - the order number `<yyyymmdd><region>r<11 digits>` from a Redis counter per day and region, or
 *     `<yyyymmdd><region>p<11 digits>` from a Postgres sequence while Redis is down. It stays sequential, so
 *     ids sort by time and operators can read them; the two sources carry different markers so they can
 *     never hand out the same number.
 *   - a random suffix of PACKET_ID_SUFFIX_LENGTH lowercase base32 characters (65 bits from node:crypto).
 *
 * The order number alone is easy to guess (it is the time of day), so the id as a whole is the packet's
 * public handle and an open group packet's bearer secret: whoever holds the id may claim a share, and nobody
 * can find one by counting. docs/ids.md says why this choice was made.
 */
import { randomBytes } from 'node:crypto';
import type { Db } from '../../db';
import type { RedisDeps } from '../../redis';

const DAY_MS = 86_400_000;
const COUNTER_TTL_MS = 2 * DAY_MS;
const DIGITS = 11;
/** RFC 4648 base32 in lower case: no 0, 1, 8 or 9, so the suffix never reads as part of the number. */
const BASE32_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
/** 13 characters of 5 bits each: 65 bits, so guessing one live id takes about 2^64 tries on average. */
export const PACKET_ID_SUFFIX_LENGTH = 13;
/** Longest id: 8 + 8 (region) + 1 + 11 + 13 = 41 characters, within the API's 64-character resource ids. */
export const PACKET_ID_PATTERN = /^\d{8}[a-z0-9]{1,8}[rp]\d{11}[a-z2-7]{13}$/;

function utcDay(nowMs: number): { day: string; msIntoDay: number } {
  const date = new Date(nowMs);
  const day = date.toISOString().slice(0, 10).replace(/-/g, '');
  return { day, msIntoDay: nowMs % DAY_MS };
}

/** PACKET_ID_SUFFIX_LENGTH characters from the CSPRNG; 256 is a multiple of 32, so each is uniform. */
export function randomPacketIdSuffix(): string {
  const bytes = randomBytes(PACKET_ID_SUFFIX_LENGTH);
  let suffix = '';
  for (const byte of bytes) suffix += BASE32_ALPHABET[byte % BASE32_ALPHABET.length];
  return suffix;
}

export function formatPacketId(
  day: string,
  region: string,
  source: 'r' | 'p',
  n: number,
  suffix: string = randomPacketIdSuffix(),
): string {
  return `${day}${region}${source}${String(n).padStart(DIGITS, '0')}${suffix}`;
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
