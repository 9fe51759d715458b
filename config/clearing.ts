/**
 * Clearing between cells (docs/cells.md): the settle pumps' settings and, for the pair audit
 * (`npm run audit -- --cells`), where every cell's database is. Read from the validated environment by
 * config/index.ts.
 */
import { cellMap } from './cells';
export interface ClearingSettings {
  /** Cross-cell credits per delivered batch (the home cell posts a batch in one statement). */
  batchMax: number;
  /** Longest wait for the home cell's answer to one batch. */
  requestTimeoutMs: number;
  /** Settle pump workflow ids are `<prefix><homeCell>`; tests give each file its own. */
  pumpIdPrefix: string;
  /** Every cell's database (URL and schema), for the pair audit; this cell's own is DATABASE_URL. */
  databases: Readonly<Record<string, { url: string; schema: string }>>;
  /** The pair audit fails a cross-cell credit still in transit after this long; undefined: its default. */
  transitMaxMs: number | undefined;
}

export function parseClearing(
  env: {
    SETTLE_BATCH_MAX: number;
    SETTLE_REQUEST_TIMEOUT_MS: number;
    SETTLE_PUMP_ID_PREFIX: string;
    CELL_DATABASE_URLS?: string | undefined;
    CELL_DATABASE_SCHEMAS?: string | undefined;
    AUDIT_XCREDIT_TRANSIT_MAX_MS?: number | undefined;
    DATABASE_URL: string;
    DATABASE_SCHEMA: string;
    REGION: string;
  },
  cells: readonly string[],
): ClearingSettings | { problems: string[] } {
  const problems: string[] = [];
  const urls = cellMap('CELL_DATABASE_URLS', env.CELL_DATABASE_URLS, cells, problems);
  const schemas = cellMap('CELL_DATABASE_SCHEMAS', env.CELL_DATABASE_SCHEMAS, cells, problems);
  const databases: Record<string, { url: string; schema: string }> = {};
  for (const cell of cells) {
    const url = urls[cell] ?? (cell === env.REGION ? env.DATABASE_URL : undefined);
    if (url) databases[cell] = { url, schema: schemas[cell] ?? env.DATABASE_SCHEMA };
  }
  if (problems.length > 0) return { problems };
  return {
    batchMax: env.SETTLE_BATCH_MAX,
    requestTimeoutMs: env.SETTLE_REQUEST_TIMEOUT_MS,
    pumpIdPrefix: env.SETTLE_PUMP_ID_PREFIX,
    databases,
    transitMaxMs: env.AUDIT_XCREDIT_TRANSIT_MAX_MS,
  };
}
