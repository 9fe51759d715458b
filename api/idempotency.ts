/**
 * Idempotency-Key with Stripe's semantics, stored in Postgres (table idempotency_keys, migration 0003).
 *
 * - Keys are scoped per user: two users may pick the same key without seeing each other's answers.
 * - The first request claims the key (state in_flight) before its handler runs; its answer, success or 4xx
 *   problem, is stored and every later request with the key gets those bytes back with
 *   `Idempotent-Replayed: true`.
 * - The same key with another method, path or body (sha256 of the canonical form) is 422
 *   `idempotency_key_reused`; the same key while the first request still runs is 409 `idempotency_in_flight`.
 * - A 5xx answer releases the key, so the client can retry the same request.
 * - Keys live IDEMPOTENCY_TTL_SECONDS (24 h by default); an expired row counts as absent and is purged lazily.
 * - A request that dies mid-flight (process killed) holds its key for IDEMPOTENCY_LOCK_TIMEOUT_MS; a retry
 *   after that runs again. That is safe because every effect below is idempotent on its own (deposit ids and
 *   the packet workflow's update id derive from the key), so the table is a response cache and a conflict
 *   detector, not the only guard against double spending.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Config } from '../config';
import type { Logger } from '../config/logger';
import type { Db } from '../db';
import { canonicalJson } from './validation';

export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export type BeginResult =
  | { kind: 'started'; ownerToken: string }
  | { kind: 'replay'; response: StoredResponse }
  | { kind: 'in_flight' }
  | { kind: 'reused' };

export interface IdempotencyStore {
  begin(userId: string, key: string, requestHash: string): Promise<BeginResult>;
  complete(userId: string, key: string, ownerToken: string, response: StoredResponse): Promise<void>;
  release(userId: string, key: string, ownerToken: string): Promise<void>;
  /** Deletes up to PURGE_BATCH expired rows; returns how many. */
  purgeExpired(): Promise<number>;
}

const PURGE_INTERVAL_MS = 60_000;
const PURGE_BATCH = 1_000;
/** A row may vanish between the insert and the read (released, purged); try again a few times. */
const BEGIN_ATTEMPTS = 3;

export function requestHash(method: string, path: string, body: unknown): string {
  return createHash('sha256')
    .update(`${method.toUpperCase()}\n${path}\n${canonicalJson(body ?? null)}`)
    .digest('hex');
}

interface KeyRow {
  request_hash: string;
  state: 'in_flight' | 'done';
  response_status: number | null;
  response_headers: Record<string, string> | null;
  response_body: Buffer | null;
}

export function createIdempotencyStore(deps: {
  db: Db;
  config: Pick<Config, 'idempotency'>;
  log: Logger;
}): IdempotencyStore {
  const { db, log } = deps;
  const { ttlSeconds, lockTimeoutMs } = deps.config.idempotency;
  let lastPurgeMs = 0;

  async function purgeExpired(): Promise<number> {
    const { rowCount } = await db.query(
      `DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(
         SELECT ctid FROM idempotency_keys WHERE expires_at <= now() LIMIT $1))`,
      [PURGE_BATCH],
    );
    return rowCount ?? 0;
  }

  function maybePurge(): void {
    const nowMs = Date.now();
    if (nowMs - lastPurgeMs < PURGE_INTERVAL_MS) return;
    lastPurgeMs = nowMs;
    purgeExpired().catch((err: unknown) => log.warn({ err }, 'idempotency purge failed'));
  }

  async function tryClaim(userId: string, key: string, hash: string): Promise<string | undefined> {
    const ownerToken = randomUUID();
    // Claims a new key, an expired one, or one whose first request died holding it (same request only).
    const { rows } = await db.query<{ owner_token: string }>(
      `INSERT INTO idempotency_keys AS k
         (user_id, key, request_hash, state, owner_token, locked_until, expires_at)
       VALUES ($1, $2, $3, 'in_flight', $4,
               now() + $5 * interval '1 millisecond', now() + $6 * interval '1 second')
       ON CONFLICT (user_id, key) DO UPDATE SET
         request_hash = EXCLUDED.request_hash, state = 'in_flight', owner_token = EXCLUDED.owner_token,
         locked_until = EXCLUDED.locked_until, expires_at = EXCLUDED.expires_at, created_at = now(),
         response_status = NULL, response_headers = NULL, response_body = NULL
       WHERE k.expires_at <= now()
          OR (k.state = 'in_flight' AND k.locked_until <= now() AND k.request_hash = EXCLUDED.request_hash)
       RETURNING owner_token`,
      [userId, key, hash, ownerToken, lockTimeoutMs, ttlSeconds],
    );
    return rows[0]?.owner_token;
  }

  return {
    purgeExpired,
    async begin(userId, key, hash) {
      maybePurge();
      for (let attempt = 1; attempt <= BEGIN_ATTEMPTS; attempt += 1) {
        const ownerToken = await tryClaim(userId, key, hash);
        if (ownerToken) return { kind: 'started', ownerToken };
        const { rows } = await db.query<KeyRow>(
          `SELECT request_hash, state, response_status, response_headers, response_body
             FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND expires_at > now()`,
          [userId, key],
        );
        const row = rows[0];
        if (!row) continue;
        if (row.request_hash !== hash) return { kind: 'reused' };
        if (row.state === 'in_flight') return { kind: 'in_flight' };
        if (row.response_status === null || row.response_body === null) continue; // unreachable: CHECK
        return {
          kind: 'replay',
          response: {
            status: row.response_status,
            headers: row.response_headers ?? {},
            body: row.response_body,
          },
        };
      }
      // Only reachable when the key keeps vanishing under us; the client may simply retry.
      return { kind: 'in_flight' };
    },
    async complete(userId, key, ownerToken, response) {
      await db.query(
        `UPDATE idempotency_keys
            SET state = 'done', locked_until = NULL,
                response_status = $4, response_headers = $5, response_body = $6
          WHERE user_id = $1 AND key = $2 AND owner_token = $3`,
        [userId, key, ownerToken, response.status, JSON.stringify(response.headers), response.body],
      );
    },
    async release(userId, key, ownerToken) {
      await db.query('DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND owner_token = $3', [
        userId,
        key,
        ownerToken,
      ]);
    },
  };
}
