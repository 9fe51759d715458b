/**
 * Validation at the edge with zod 4. Objects are strict (an unknown field is an error, so nobody can slip an
 * amount, status or user id past a route), amounts are positive safe integers given as JSON numbers (never
 * strings or floats), and ids match the patterns the domain uses. The route builder parses every input with
 * these before a handler runs; the same schemas generate the OpenAPI document.
 */
import { z } from 'zod';
import { USER_ID_PATTERN } from '../domain/accounts';
import { fieldIssues, validationProblem } from './errorMapping';

export type InputLocation = 'body' | 'query' | 'params' | 'headers';

/** Parses `value` or throws a 400 `validation_failed` problem listing the field issues. */
export function parseInput<S extends z.ZodType>(
  schema: S,
  value: unknown,
  location: InputLocation,
): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw validationProblem(fieldIssues(parsed.error, location));
  return parsed.data;
}

export const UserIdSchema = z
  .string()
  .regex(USER_ID_PATTERN, 'user ids are 1-64 letters, digits, _ or -')
  .meta({ description: 'A user id (the `sub` of their token)', example: 'alice' });

/** Packet and claim ids: printable, bounded, nothing that could be mistaken for a path or key separator. */
export const RESOURCE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export const ResourceIdSchema = z.string().regex(RESOURCE_ID_PATTERN, 'ids are 1-64 letters, digits, _ or -');

/**
 * A packet id in a path. Only the resource id shape is enforced: an id that is well formed but not a packet's
 * (an old-format or guessed one) must answer 404 exactly like any other unknown packet, never a 400 that would
 * tell a prober which ids could exist. New ids match PACKET_ID_PATTERN (packets/gate/ids.ts).
 */
export const PacketIdSchema = ResourceIdSchema.meta({
  description:
    'The packet id from the send answer: a sequential order number and a random suffix. It is the ' +
    "packet's unguessable handle; for an open group packet it is the secret that lets a member claim, so " +
    'share it only with the group.',
  example: '20261123cn1r54084124001k3vq2mxd7a4zb',
});

/** Integer fen given as a JSON number: 1 or more, at most Number.MAX_SAFE_INTEGER. */
export const AmountFenSchema = z
  .int()
  .positive()
  .meta({ description: 'Amount in fen (1/100 yuan), a positive whole number', example: 888 });

/** A route-level cap on top of AmountFenSchema, e.g. the largest deposit. */
export const amountFenAtMost = (maxFen: number) => AmountFenSchema.max(maxFen);

/**
 * A query parameter holding a whole number: digits only (no sign, exponent, blanks or repeats), so "1e2",
 * " 5" and "5&limit=6" are refused rather than coerced.
 */
export const queryInt = (min: number, max: number) =>
  z
    .string()
    .regex(/^[0-9]{1,9}$/, 'a whole number')
    .transform(Number)
    .pipe(z.int().min(min).max(max));

export const PAGE_LIMIT_MAX = 100;
export const PAGE_LIMIT_DEFAULT = 20;

/** `limit` and `cursor` of every keyset-paginated list. */
export const PageQuerySchema = z.strictObject({
  limit: queryInt(1, PAGE_LIMIT_MAX)
    .optional()
    .meta({ description: `Page size, 1-${PAGE_LIMIT_MAX}, default ${PAGE_LIMIT_DEFAULT}` }),
  cursor: z
    .string()
    .max(512)
    .optional()
    .meta({ description: 'Opaque cursor from the previous page (`nextCursor`)' }),
});

/** 1..255 printable ASCII characters (Stripe's limit), e.g. a UUID chosen by the client. */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x20-\x7E]{1,255}$/;

export const IdempotencyKeySchema = z
  .string()
  .regex(IDEMPOTENCY_KEY_PATTERN, '1-255 printable ASCII characters')
  .meta({ description: 'Makes the POST safe to retry: the first answer is stored for 24 h and replayed' });

/** Canonical JSON (keys sorted at every depth), so the same body in another key order hashes the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
