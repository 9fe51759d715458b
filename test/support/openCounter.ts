/**
 * Counts the open statements (open_share, open_shares) an app sends to Postgres, by wrapping the Db the test
 * hands to the app: production code carries no counter for tests.
 */
import type { Db } from '../../db';

/** Whether a statement's text is an open: one opener (open_share) or a batch of them (open_shares). */
export const isOpenStatement = (text: string): boolean => /\bopen_shares?\(/.test(text);

export interface CountedDb {
  db: Db;
  /** Open statements sent through `db` so far. */
  opens: () => number;
}

export function countOpenStatements(inner: Db): CountedDb {
  let opens = 0;
  const query = ((text: string, values?: unknown[]) => {
    if (isOpenStatement(text)) opens++;
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
