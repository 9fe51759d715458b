/**
 * The one check of CELL_INTERNAL_TOKEN, for every call between cells (a forwarded request's header, a
 * cross-cell credit's bearer token): both sides hashed first, so the comparison takes constant time whatever
 * the lengths.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** A matcher of presented tokens against `token`; nothing matches an unset token. */
export function internalTokenMatcher(token: string | undefined): (presented: unknown) => boolean {
  if (!token) return () => false;
  const expected = digest(token);
  return (presented) => typeof presented === 'string' && timingSafeEqual(digest(presented), expected);
}
