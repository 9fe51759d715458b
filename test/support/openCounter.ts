/**
 * Counts the open statements (open_share) an app sends to Postgres, by wrapping the Db the test hands to
 * the app: production code carries no counter for tests.
 */
import type { Db } from '../../db';

export interface CountedDb {
  db: Db;
  /** open_share statements sent through `db` so far. */
  opens: () => number;
}

export function countOpenStatements(inner: Db): CountedDb {
  let opens = 0;
  const query = ((text: string, values?: unknown[]) => {
    if (text.includes('open_share(')) opens++;
    return inner.query(text, values);
  }) as Db['query'];
  const db: Db = {
    pool: inner.pool,
    schema: inner.schema,
    query,
    withTransaction: (fn, options) => inner.withTransaction(fn, options),
    close: () => inner.close(),
  };
  return { db, opens: () => opens };
}
