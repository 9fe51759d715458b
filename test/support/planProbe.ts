/**
 * Which partitions a statement really reads (docs/day-tables.md). A probe is one connection with
 * auto_explain logging every statement it runs, nested ones too (the statements inside open_share and
 * pay_packet), with their executed plans as JSON; the logs reach the client as notices. A scan node whose
 * subplan was pruned at plan time is absent, and one pruned at run time shows zero loops, so the partitions
 * with loops are exactly the ones read.
 */
import type { PoolClient, QueryResultRow } from 'pg';
import type { Db, Queryable } from '../../db';

/** The tables partitioned by day, and how their partitions are named (`<table>_<yyyymmdd>`, `_legacy`). */
export const DAY_TABLES = ['packets', 'claims', 'transfers'] as const;
const PARTITION_PATTERN = /^(packets|claims|transfers)_(\d{8}|legacy)$/;

interface PlanNode {
  'Relation Name'?: string;
  'Actual Loops'?: number;
  Plans?: PlanNode[];
}

export interface ExecutedPlan {
  /** The statement's text as auto_explain logged it. */
  query: string;
  /** Per day table, the partitions the plan read (scan nodes that ran at least once). */
  read: Map<string, Set<string>>;
}

function partitionsRead(node: PlanNode, read: Map<string, Set<string>>): void {
  const relation = node['Relation Name'];
  const parent = relation ? PARTITION_PATTERN.exec(relation)?.[1] : undefined;
  if (relation && parent && (node['Actual Loops'] ?? 0) > 0) {
    const set = read.get(parent) ?? new Set<string>();
    set.add(relation);
    read.set(parent, set);
  }
  for (const child of node.Plans ?? []) partitionsRead(child, read);
}

export interface PlanProbe {
  /** Runs statements on the probe's connection, as the product's code would (a Queryable, also a Tx). */
  q: Queryable;
  /** The plans executed since the last call, oldest first. */
  take(): ExecutedPlan[];
  release(): Promise<void>;
}

export async function planProbe(db: Db, options: { generic?: boolean } = {}): Promise<PlanProbe> {
  const client: PoolClient = await db.pool.connect();
  const logged: string[] = [];
  client.on('notice', (notice) => {
    if (notice.message?.includes('plan:')) logged.push(notice.message);
  });
  await client.query(`LOAD 'auto_explain'`);
  await client.query(`SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on;
    SET auto_explain.log_timing = off; SET auto_explain.log_nested_statements = on;
    SET auto_explain.log_format = 'json'; SET client_min_messages = log`);
  // Generic plans are what a prepared statement (and a plpgsql statement) runs after its fifth execution:
  // there the day can only be pruned at executor start, which the plans must show too.
  if (options.generic) await client.query('SET plan_cache_mode = force_generic_plan');
  const q: Queryable = {
    query: async <R extends QueryResultRow>(text: string, values?: unknown[]) => {
      const result = await client.query<R>(text, values);
      return { rows: result.rows, rowCount: result.rowCount };
    },
  };
  return {
    q,
    take() {
      const plans = logged.splice(0).map((message) => {
        const json = JSON.parse(message.slice(message.indexOf('plan:') + 'plan:'.length)) as {
          'Query Text': string;
          Plan: PlanNode;
        };
        const read = new Map<string, Set<string>>();
        partitionsRead(json.Plan, read);
        return { query: json['Query Text'], read };
      });
      return plans;
    },
    async release() {
      await client.query('RESET ALL').catch(() => undefined);
      client.release(true);
    },
  };
}

/** The statements among `plans` that read more than one partition of a day table, described. */
export function widerThanOneDay(plans: readonly ExecutedPlan[]): string[] {
  const wide: string[] = [];
  for (const plan of plans)
    for (const [table, partitions] of plan.read)
      if (partitions.size > 1)
        wide.push(`${table}: ${[...partitions].sort().join(', ')} in ${plan.query.replace(/\s+/g, ' ')}`);
  return wide;
}
