/**
 * The scope of an incremental audit (the reconciler's, docs/reconciliation.md): the packets and accounts
 * touched since its watermark, and the transfers written since then. Each check's SQL asks this module for
 * its predicates, so one query serves both the full audit (every predicate `true`) and the scoped one; there
 * is never a second copy of a check.
 */

export interface AuditScope {
  packetIds: readonly string[];
  accountIds: readonly string[];
  /** Transfers with a larger `seq` are in scope. */
  transfersAfterSeq: number;
}

/** The predicates a check puts in its WHERE clauses; each is `true` when the audit is not scoped. */
export interface ScopeSql {
  packets(column: string): string;
  accounts(column: string): string;
  transfers(seqColumn: string): string;
}

/**
 * Renders `build`'s SQL for `scope`, numbering the scope's parameters after the check's own (the runner passes
 * its LIMIT as $1, a check's parameters from $2). A parameter is bound only when the SQL uses it: Postgres
 * refuses a parameter it cannot type.
 */
export function renderScoped(
  scope: AuditScope | undefined,
  checkParams: readonly unknown[],
  build: (s: ScopeSql) => string,
): { sql: string; params: unknown[] } {
  const params = [...checkParams];
  const bound = new Map<string, number>();
  const bind = (name: string, value: unknown, cast: string): string => {
    let index = bound.get(name);
    if (index === undefined) {
      params.push(value);
      index = params.length + 1;
      bound.set(name, index);
    }
    return `$${index}::${cast}`;
  };
  const s: ScopeSql = scope
    ? {
        packets: (column) => `${column} = ANY(${bind('packets', scope.packetIds, 'text[]')})`,
        accounts: (column) => `${column} = ANY(${bind('accounts', scope.accountIds, 'text[]')})`,
        transfers: (column) => `${column} > ${bind('transfers', scope.transfersAfterSeq, 'bigint')}`,
      }
    : { packets: () => 'true', accounts: () => 'true', transfers: () => 'true' };
  return { sql: build(s), params };
}

/**
 * The audit reads packets, claims and transfers through the live_* views (migration 0018), which leave the
 * cold days out: a cold day's money counts through its snapshot (docs/day-tables.md, "Cold days"). The
 * tables that are not partitioned keep a cold day's rows (payment decisions, outbox rows, escrow accounts),
 * and a check that joins them to the day tables leaves them out with this predicate, the views' own.
 */
export const outsideColdDays = (dayExpr: string): string => `${dayExpr} NOT IN (SELECT day FROM cold_days)`;
