/**
 * The only importer of pg. `query` runs one statement on the pool; `withTransaction` holds one client for
 * BEGIN .. COMMIT/ROLLBACK and always releases it, because a multi-statement transaction on `pool.query`
 * would run each statement on whichever client is free.
 */
import { Pool, types, type PoolClient, type QueryConfig, type QueryResultRow } from 'pg';
import type { Config } from '../config';

const INT8_OID = 20;

/** int8 arrives as a string; amounts and counts are safe integers, so parse and refuse anything else. */
function parseSafeInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError(`int8 value ${text} is not a safe integer`);
  return value;
}
types.setTypeParser(INT8_OID, parseSafeInt8);

export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<{ rows: R[]; rowCount: number | null }>;
}

export type Tx = Queryable;

export interface TransactionOptions {
  isolation?: 'read committed' | 'repeatable read' | 'serializable';
  /**
   * The transaction's lock_timeout: a lock held elsewhere longer than this fails the statement with 55P03
   * (PgErrorCode.LockNotAvailable) instead of waiting out the statement timeout. Sent with BEGIN, so it
   * costs no round trip.
   */
  lockTimeoutMs?: number;
}

/** BEGIN with the options as one simple-protocol text (one round trip). */
export function beginText(options: TransactionOptions = {}): string {
  const begin = options.isolation ? `BEGIN ISOLATION LEVEL ${options.isolation.toUpperCase()}` : 'BEGIN';
  const { lockTimeoutMs } = options;
  if (lockTimeoutMs === undefined) return begin;
  if (!Number.isSafeInteger(lockTimeoutMs) || lockTimeoutMs < 1)
    throw new RangeError(`lockTimeoutMs must be a positive integer, not ${lockTimeoutMs}`);
  return `${begin}; SET LOCAL lock_timeout = ${lockTimeoutMs}`;
}

export interface Db extends Queryable {
  readonly pool: Pool;
  readonly schema: string;
  withTransaction<T>(fn: (tx: Tx) => Promise<T>, options?: TransactionOptions): Promise<T>;
  close(): Promise<void>;
}

/**
 * Parameterized statements run as named prepared statements: Postgres parses and plans each text once per
 * connection and then only binds and executes it, which was a good part of its CPU per statement (a payment
 * is a dozen short statements). Only statements with values are named (they use the extended protocol
 * anyway; a text without values may hold several statements). Names are per process and at most
 * PREPARED_TEXTS_MAX texts get one, so a text built at run time cannot grow every connection's set of
 * prepared statements without bound; later texts run unnamed, as before.
 */
export const PREPARED_TEXTS_MAX = 256;
const preparedNames = new Map<string, string>();

/** The statement as pg takes it: named when it has values and its text has (or can get) a name. */
export function statementOf(text: string, values?: unknown[]): QueryConfig {
  if (!values || values.length === 0) return { text };
  let name = preparedNames.get(text);
  if (name === undefined && preparedNames.size < PREPARED_TEXTS_MAX) {
    name = `rp${preparedNames.size}`;
    preparedNames.set(text, name);
  }
  return name === undefined ? { text, values } : { name, text, values };
}

export function createDb(config: Pick<Config, 'database'>, options: { applicationName?: string } = {}): Db {
  const { url, schema, poolMax, statementTimeoutMs, idleInTransactionTimeoutMs } = config.database;
  const pool = new Pool({
    connectionString: url,
    max: poolMax,
    application_name: options.applicationName ?? 'redpacket',
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    // Every session resolves names in the configured schema, which is how tests get a fresh one each. A session
    // of ours stalled inside a transaction (a paused process, a lost network) is ended by Postgres after
    // idle_in_transaction_session_timeout, so the rows it locked do not stay locked for good.
    options:
      `-c search_path=${schema} -c statement_timeout=${statementTimeoutMs}` +
      ` -c idle_in_transaction_session_timeout=${idleInTransactionTimeoutMs}`,
  });
  // An idle client losing its connection (Postgres restarted) must not crash the process; the pool drops it.
  pool.on('error', () => undefined);

  const query: Queryable['query'] = async <R extends QueryResultRow>(text: string, values?: unknown[]) => {
    const result = await pool.query<R>(statementOf(text, values));
    return { rows: result.rows, rowCount: result.rowCount };
  };

  async function withTransaction<T>(
    fn: (tx: Tx) => Promise<T>,
    txOptions: TransactionOptions = {},
  ): Promise<T> {
    const client: PoolClient = await pool.connect();
    let broken: unknown;
    // A connection that breaks between two statements emits 'error' on the checked-out client; unheard, that
    // ends the process. The next statement fails with the same cause, so the transaction still sees it.
    const onError = (err: Error) => {
      broken = err;
    };
    client.on('error', onError);
    try {
      await client.query(beginText(txOptions));
      const tx: Tx = {
        query: async <R extends QueryResultRow>(text: string, values?: unknown[]) => {
          const result = await client.query<R>(statementOf(text, values));
          return { rows: result.rows, rowCount: result.rowCount };
        },
      };
      const result = await fn(tx);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        // A client that cannot roll back is not safe to reuse; release(err) destroys it.
        broken = rollbackErr;
      }
      throw err;
    } finally {
      client.removeListener('error', onError);
      client.release(broken instanceof Error ? broken : undefined);
    }
  }

  return {
    pool,
    schema,
    query,
    withTransaction,
    close: () => pool.end(),
  };
}

/** Postgres error codes the code reacts to, named. */
export const PgErrorCode = {
  UniqueViolation: '23505',
  CheckViolation: '23514',
  ForeignKeyViolation: '23503',
  SerializationFailure: '40001',
  DeadlockDetected: '40P01',
  LockNotAvailable: '55P03',
  InvalidCatalogName: '3D000',
  /** ensure_day_partitions: the day is archived (cold_days) and is not created again. */
  DayArchived: 'RP030',
} as const;

export function pgErrorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  return typeof err.code === 'string' ? err.code : undefined;
}
