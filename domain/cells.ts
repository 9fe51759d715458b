/**
 * Cells (regions, issue 27): which cell owns a packet and which cell is a user's home. Defined once here and
 * used by every process, so the API, the workers, the audit and the tests all route the same way.
 *
 * A packet lives wholly in the cell whose id is inside its packet id (packets/gate/ids.ts writes the region
 * there). A user's home is a fixed, versioned map from a bucket of the user id to a cell: the bucket is a
 * hash of the id that never changes, and version 1 of the map splits the buckets into equal, contiguous
 * ranges over the configured cells in the order they are listed. Moving a bucket to another cell (moving its
 * wallets) is out of scope: a new map version would need a migration of the wallets it moves.
 */
import { createHash } from 'node:crypto';

/** How many buckets users hash into; fixed for the life of the data. */
export const HOME_BUCKETS = 100;
/** The version of the bucket-to-cell map below; bump it only with a migration of the wallets that move. */
export const HOME_MAP_VERSION = 1;

/** A cell id is a region: what packets/gate/ids.ts writes into a packet id. */
export const CELL_ID_PATTERN = /^[a-z0-9]{1,8}$/;

/** The bucket of a user id: the first 4 bytes of its SHA-256, modulo HOME_BUCKETS. */
export function homeBucketOf(userId: string): number {
  return createHash('sha256').update(userId, 'utf8').digest().readUInt32BE(0) % HOME_BUCKETS;
}

/**
 * Version 1 of the map: with cells [c0, c1, ..., ck-1], bucket b belongs to c(floor(b * k / HOME_BUCKETS)).
 * Two cells n,s: buckets 0-49 are n's, 50-99 are s's.
 */
export function cellOfBucket(bucket: number, cells: readonly string[]): string {
  if (cells.length === 0) throw new Error('no cells configured');
  if (!Number.isInteger(bucket) || bucket < 0 || bucket >= HOME_BUCKETS)
    throw new Error(`no bucket ${bucket}`);
  return cells[Math.floor((bucket * cells.length) / HOME_BUCKETS)]!;
}

/** The cell that holds a user's wallet, balance and bills, and where their sends are paid. */
export function homeCellOf(userId: string, cells: readonly string[]): string {
  return cellOfBucket(homeBucketOf(userId), cells);
}

/** Lengths of the parts of a packet id after the region (packets/gate/ids.ts): marker, number, suffix. */
const ID_DAY_LENGTH = 8;
const ID_TAIL_LENGTH = 1 + 11 + 13;

/**
 * The cell in a packet id (`<yyyymmdd><region>[rp]<11 digits><13-char suffix>`), or undefined when the id is
 * not of that shape. The parts around the region have fixed lengths, so the region is what lies between.
 */
export function cellOfPacketId(packetId: string): string | undefined {
  if (packetId.length <= ID_DAY_LENGTH + ID_TAIL_LENGTH) return undefined;
  const region = packetId.slice(ID_DAY_LENGTH, packetId.length - ID_TAIL_LENGTH);
  return CELL_ID_PATTERN.test(region) ? region : undefined;
}

/**
 * True when a packet id does not name `cell` where a packet id names its cell: one slice and one compare,
 * cheap enough for the hot lane. An id of another shape is "not this cell" too; the full check
 * (cellOfPacketId) then decides, off the hot path.
 */
export function packetIdNotOf(packetId: string, cell: string): boolean {
  return packetId.slice(ID_DAY_LENGTH, packetId.length - ID_TAIL_LENGTH) !== cell;
}
