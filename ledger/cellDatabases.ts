/**
 * Every cell's database, for the pair audit (docs/cells.md): from CELL_DATABASE_URLS and
 * CELL_DATABASE_SCHEMAS, this cell's own being DATABASE_URL and DATABASE_SCHEMA. Small pools: the audit
 * reads with one connection per cell at a time.
 */
import type { Config } from '../config';
import { createDb, type Db } from '../db';

const CELL_AUDIT_POOL_MAX = 2;

export interface CellDatabases {
  dbs: { cell: string; db: Db }[];
  close(): Promise<void>;
}

/** Undefined when some cell's database is not configured (the pair audit cannot run from here). */
export function openCellDatabases(
  config: Pick<Config, 'cells' | 'clearing' | 'database'>,
  applicationName: string,
): CellDatabases | undefined {
  const { all } = config.cells;
  if (all.length < 2 || all.some((cell) => !config.clearing.databases[cell])) return undefined;
  const dbs = all.map((cell) => {
    const { url, schema } = config.clearing.databases[cell]!;
    const database = { ...config.database, url, schema, poolMax: CELL_AUDIT_POOL_MAX };
    return { cell, db: createDb({ database }, { applicationName }) };
  });
  return {
    dbs,
    close: async () => {
      await Promise.allSettled(dbs.map(({ db }) => db.close()));
    },
  };
}
