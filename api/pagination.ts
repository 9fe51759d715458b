/**
 * Keyset pagination for every list. A cursor is base64url JSON `{v, p, k}`: format version, the page number
 * it leads to, and the list's own position (validated with the list's zod schema). It is opaque to clients
 * and carries no user id: a cursor only says where to continue, the user always comes from the token, so a
 * cursor from someone else's list just pages through your own.
 *
 * Under pressure (LIST_UNDER_PRESSURE, or Redis unreachable) only the first LIST_MAX_PAGES_UNDER_PRESSURE
 * pages are served and deeper cursors get 503 `list_depth_limited` with Retry-After (seed 002: deep pages
 * are the first thing to shed). The page number is not signed; forging it only skips that courtesy limit.
 */
import { z } from 'zod';
import type { Config } from '../config';
import { Problem } from './problems';
import { PAGE_LIMIT_DEFAULT } from './validation';

const CURSOR_VERSION = 1;
const CURSOR_MAX_LENGTH = 512;

export interface PageRequest<P> {
  limit: number;
  /** Where the previous page ended; undefined for the first page. */
  after: P | undefined;
  /** 1 for the first page. */
  page: number;
}

export interface Page<T> {
  items: T[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

export function encodeCursor<P>(page: number, position: P): string {
  return Buffer.from(JSON.stringify({ v: CURSOR_VERSION, p: page, k: position }), 'utf8').toString(
    'base64url',
  );
}

/** Page 1 has no cursor, so a cursor leads to page 2 or later. */
const CursorEnvelope = z.strictObject({
  v: z.literal(CURSOR_VERSION),
  p: z.int().min(2).max(1_000_000),
  k: z.unknown(),
});

function invalidCursor(): Problem {
  return new Problem(
    400,
    'invalid_cursor',
    'Invalid cursor',
    'Pass back a nextCursor from this list unchanged.',
  );
}

// In unicode mode \p{Cs} matches only a surrogate that is not half of a pair.
// eslint-disable-next-line no-control-regex -- NUL is exactly what is refused here
const UNSTORABLE_TEXT = /[\u0000\p{Cs}]/u;

/**
 * True when every string in a decoded cursor is text Postgres can store: no NUL (Postgres text cannot hold
 * one and fails the query with "invalid byte sequence") and no lone surrogate (which would not survive the
 * trip to UTF-8 unchanged). Our own cursors never carry either, so such a cursor is forged.
 */
function isStorableText(value: unknown): boolean {
  if (typeof value === 'string') return !UNSTORABLE_TEXT.test(value);
  if (Array.isArray(value)) return value.every(isStorableText);
  if (value !== null && typeof value === 'object')
    return Object.entries(value).every(([key, item]) => isStorableText(key) && isStorableText(item));
  return true;
}

export function decodeCursor<S extends z.ZodType>(
  positionSchema: S,
  cursor: string,
): { page: number; position: z.output<S> } {
  if (cursor.length > CURSOR_MAX_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalidCursor();
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalidCursor();
  }
  if (!isStorableText(decoded)) throw invalidCursor();
  const envelope = CursorEnvelope.safeParse(decoded);
  if (!envelope.success) throw invalidCursor();
  const position = positionSchema.safeParse(envelope.data.k);
  if (!position.success) throw invalidCursor();
  return { page: envelope.data.p, position: position.data };
}

export interface PressureOptions {
  lists: Config['lists'];
  underPressure: () => boolean;
}

/** Reads `limit` and `cursor` (already validated by PageQuerySchema) into a page request, enforcing depth. */
export function pageRequest<S extends z.ZodType>(
  positionSchema: S,
  query: { limit?: number | undefined; cursor?: string | undefined },
  pressure: PressureOptions,
): PageRequest<z.output<S>> {
  const limit = query.limit ?? PAGE_LIMIT_DEFAULT;
  if (query.cursor === undefined) return { limit, after: undefined, page: 1 };
  const { page, position } = decodeCursor(positionSchema, query.cursor);
  if (page > pressure.lists.maxPagesUnderPressure && pressure.underPressure()) {
    const retryAfter = String(pressure.lists.retryAfterSeconds);
    throw new Problem(
      503,
      'list_depth_limited',
      'List depth limited',
      `Under load only the first ${pressure.lists.maxPagesUnderPressure} pages are served; try again later.`,
    ).withHeader('Retry-After', retryAfter);
  }
  return { limit, after: position, page };
}

/** Builds the response page; `next` is the position after the last item, or null when there is no more. */
export function pageOf<T, P>(request: PageRequest<P>, items: T[], next: P | null): Page<T> {
  return { items, nextCursor: next === null ? null : encodeCursor(request.page + 1, next) };
}
