/**
 * A large credit backlog written by SQL in a few seconds, for tests of what a batch or a scrape costs when
 * the claims table is big. The books stay consistent (a deposit funds the sender, one pay transfer fills
 * each escrow, every packet's shares are all claimed), so production code can credit from it and the audit
 * still passes afterwards.
 */
import type { Db } from '../../db';

export interface BacklogShape {
  /** Prefix of every id the fixture writes (packets, claims, users, the sender). */
  prefix: string;
  packets: number;
  claimsPerPacket: number;
  /** Every this-many-th packet pays large claims (at or above CREDIT_LARGE_MIN_FEN); the others small ones. */
  largeEvery: number;
  largeFen: number;
  smallFen: number;
}

/**
 * Readies a fixture's transaction for a million claims; the returned function ends that state. The NOTIFY
 * trigger would queue a million notifications for pumps the fixtures do not run, and the foreign key to the
 * partitioned `packets` checks each row through the parent table, which in one transaction grows to 200-300
 * us a row (five minutes for a million, against 15 s without). The fixtures write claims of the packets they
 * have just written (and transfers between accounts they have just made), consistent by construction, so
 * where the test's role may (a superuser, as in CI) the
 * session skips both as a replica's apply would; otherwise only the trigger is disabled.
 */
async function bulkClaims(tx: Pick<Db, 'query'>): Promise<() => Promise<void>> {
  const { rows } = await tx.query<{ super: boolean }>(
    'SELECT rolsuper AS super FROM pg_roles WHERE rolname = current_user',
  );
  if (rows[0]?.super) {
    await tx.query('SET LOCAL session_replication_role = replica');
    return async () => {
      await tx.query('SET LOCAL session_replication_role = origin');
    };
  }
  await tx.query('ALTER TABLE claims DISABLE TRIGGER claims_notify_credit_pump');
  return async () => {
    await tx.query('ALTER TABLE claims ENABLE TRIGGER claims_notify_credit_pump');
  };
}

/** SQL for a packet's per-claim amount, from its number `n`. */
const amountSql = (shape: BacklogShape, n: string) =>
  `(CASE WHEN ${n} % ${shape.largeEvery} = 0 THEN ${shape.largeFen} ELSE ${shape.smallFen} END)`;

/**
 * Writes `packets x claimsPerPacket` uncredited claims, oldest first by claim number, and the money behind
 * them, then analyzes the tables so the planner sees the backlog as production's statistics would.
 */
export async function loadUncreditedBacklog(db: Db, shape: BacklogShape): Promise<{ claims: number }> {
  const { prefix: x, packets, claimsPerPacket: per } = shape;
  const amount = amountSql(shape, 'n');
  await db.withTransaction(async (tx) => {
    // A million rows take longer than the service's statement timeout, which is for requests, not fixtures.
    await tx.query('SET LOCAL statement_timeout = 0');
    await tx.query(
      `INSERT INTO packets (day, id, sender_id, type, total_fen, share_count, remaining_fen, remaining_count,
                            expires_at)
       SELECT day_of_id('${x}p' || n), '${x}p' || n, '${x}sender', 'fixed', ${per} * ${amount}, ${per}, 0, 0, now() + interval '1 day'
       FROM generate_series(0, ${packets - 1}) n`,
    );
    await tx.query(
      `INSERT INTO accounts (id, kind, owner_id, balance_fen)
       SELECT 'escrow:${x}p' || n, 'escrow', '${x}p' || n, ${per} * ${amount} FROM generate_series(0, ${packets - 1}) n`,
    );
    const { rows } = await tx.query<{ total: number }>(
      `SELECT sum(total_fen)::bigint AS total FROM packets WHERE sender_id = '${x}sender'`,
    );
    const totalFen = rows[0]?.total ?? 0;
    await tx.query(
      `INSERT INTO accounts (id, kind, owner_id) VALUES ('wallet:${x}sender', 'wallet', '${x}sender')`,
    );
    await tx.query(`UPDATE accounts SET balance_fen = balance_fen - $1 WHERE id = 'external:funding'`, [
      totalFen,
    ]);
    await tx.query(
      `INSERT INTO transfers (day, id, debit_account_id, credit_account_id, amount_fen, kind)
       VALUES (transfer_day('deposit:${x}fixture'), 'deposit:${x}fixture', 'external:funding', 'wallet:${x}sender', $1, 'deposit')`,
      [totalFen],
    );
    await tx.query(
      `INSERT INTO transfers (day, id, debit_account_id, credit_account_id, amount_fen, kind, packet_id)
       SELECT transfer_day('pay:${x}p' || id), 'pay:${x}p' || id, 'wallet:${x}sender', 'escrow:${x}p' || id, total_fen, 'pay', '${x}p' || id
       FROM (SELECT substr(id, ${x.length + 2}) AS id, total_fen FROM packets WHERE sender_id = '${x}sender') p`,
    );
    // Every paid packet has its payment decision, as pay_packet writes one (the audit checks both ways).
    await tx.query(
      `INSERT INTO payment_decisions (packet_id, fingerprint, outcome, decided_at)
       SELECT id, 'fixture', 'paid', now() FROM packets WHERE sender_id = '${x}sender'`,
    );
    const restore = await bulkClaims(tx);
    await tx.query(
      `INSERT INTO claims (day, id, packet_id, user_id, seq, amount_fen, created_at)
       SELECT day_of_id('${x}c' || g), '${x}c' || g, '${x}p' || (g / ${per}), '${x}u' || g, g % ${per} + 1,
         ${amountSql(shape, `(g / ${per})`)}, clock_timestamp() - interval '10 seconds' + g * interval '1 microsecond'
       FROM generate_series(0, ${packets * per - 1}) g`,
    );
    await restore();
  });
  await db.query('ANALYZE packets, claims, accounts, transfers');
  return { claims: packets * per };
}

/**
 * A million claims of history: packets and claims that were all credited long ago, with one credit transfer
 * each between two fixture accounts but no money behind them (the audit would refuse them; `removeHistory`
 * takes them out again before it runs). For tests of what a
 * read costs on a table of production's size, where nearly every claim is credited.
 */
export async function loadCreditedHistory(
  db: Db,
  shape: Pick<BacklogShape, 'prefix' | 'packets' | 'claimsPerPacket'>,
): Promise<void> {
  const { prefix: x, packets, claimsPerPacket: per } = shape;
  await db.withTransaction(async (tx) => {
    await tx.query('SET LOCAL statement_timeout = 0');
    await tx.query(
      `INSERT INTO packets (day, id, sender_id, type, total_fen, share_count, remaining_fen, remaining_count,
                            expires_at)
       SELECT day_of_id('${x}p' || n), '${x}p' || n, '${x}sender', 'fixed', ${per}, ${per}, 0, 0, now() - interval '1 day'
       FROM generate_series(0, ${packets - 1}) n`,
    );
    const restore = await bulkClaims(tx);
    await tx.query(
      `INSERT INTO claims (day, id, packet_id, user_id, seq, amount_fen, created_at, credited_at)
       SELECT day_of_id('${x}c' || g), '${x}c' || g, '${x}p' || (g / ${per}), '${x}u' || g, g % ${per} + 1, 1,
         now() - interval '2 days', now() - interval '2 days'
       FROM generate_series(0, ${packets * per - 1}) g`,
    );
    // Their credit transfers, between two accounts of the fixture's own, so the ledger is as long as claims.
    await tx.query(
      `INSERT INTO accounts (id, kind, owner_id) VALUES ('escrow:${x}history', 'escrow', '${x}history'),
         ('wallet:${x}history', 'wallet', '${x}history')`,
    );
    await tx.query(
      `INSERT INTO transfers (day, id, debit_account_id, credit_account_id, amount_fen, kind, packet_id, claim_id)
       SELECT transfer_day('credit:${x}c' || g), 'credit:${x}c' || g, 'escrow:${x}history', 'wallet:${x}history', 1, 'credit', '${x}p' || (g / ${per}),
         '${x}c' || g
       FROM generate_series(0, ${packets * per - 1}) g`,
    );
    await restore();
  });
  await db.query('ANALYZE packets, claims, accounts, transfers');
}

export async function removeHistory(db: Db, prefix: string): Promise<void> {
  await db.withTransaction(async (tx) => {
    await tx.query('SET LOCAL statement_timeout = 0');
    await tx.query(`DELETE FROM claims WHERE packet_id IN (SELECT id FROM packets WHERE sender_id = $1)`, [
      `${prefix}sender`,
    ]);
    await tx.query('DELETE FROM packets WHERE sender_id = $1', [`${prefix}sender`]);
    await tx.query('DELETE FROM transfers WHERE debit_account_id = $1', [`escrow:${prefix}history`]);
    await tx.query('DELETE FROM accounts WHERE owner_id = $1', [`${prefix}history`]);
  });
}

/**
 * Wraps a Db so that every statement it (or a transaction it opens) runs is recorded with its values: the
 * test then EXPLAINs exactly what production code sent.
 */
export function recordingDb(db: Db): { db: Db; statements: { text: string; values?: unknown[] }[] } {
  const statements: { text: string; values?: unknown[] }[] = [];
  const record =
    <T extends { query: Db['query'] }>(q: T): Db['query'] =>
    (text: string, values?: unknown[]) => {
      statements.push({ text, values });
      return q.query(text, values);
    };
  const recorded: Db = {
    ...db,
    query: record(db),
    withTransaction: (fn, options) => db.withTransaction((tx) => fn({ query: record(tx) }), options),
  };
  return { db: recorded, statements };
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

/** Every node of a JSON plan, flattened. */
export function planNodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(planNodes)];
}

/**
 * The plans Postgres may use for a statement: the one for its values, and the generic one a prepared
 * statement switches to after a few runs (production names its statements, so both happen). Run inside a
 * transaction: the prepared statement and the setting end with it.
 */
export async function explain(tx: Pick<Db, 'query'>, text: string, values: unknown[] = []) {
  type Explained = { 'QUERY PLAN': { Plan: PlanNode }[] };
  const planOf = (rows: Explained[]) => {
    const plan = rows[0]?.['QUERY PLAN'][0]?.Plan;
    if (!plan) throw new Error(`no plan for ${text}`);
    return planNodes(plan);
  };
  const custom = planOf((await tx.query<Explained>(`EXPLAIN (FORMAT JSON) ${text}`, values)).rows);
  await tx.query('SET LOCAL plan_cache_mode = force_generic_plan');
  await tx.query(`PREPARE explained_statement AS ${text}`);
  // EXECUTE takes its arguments as SQL text (a bind parameter is not seen inside EXPLAIN EXECUTE).
  const literal = (value: unknown) =>
    typeof value === 'number'
      ? String(value)
      : `'${String(value instanceof Date ? value.toISOString() : value).replaceAll("'", "''")}'`;
  const args = values.length > 0 ? `(${values.map(literal).join(', ')})` : '';
  const generic = planOf(
    (await tx.query<Explained>(`EXPLAIN (FORMAT JSON) EXECUTE explained_statement${args}`)).rows,
  );
  await tx.query('DEALLOCATE explained_statement');
  await tx.query('SET LOCAL plan_cache_mode = auto');
  return { custom, generic };
}

/** A plan as one line of `Node index-or-table` steps, for logs and assertions. */
export const planShape = (nodes: PlanNode[]): string[] =>
  nodes.map((node) => `${node['Node Type']} ${node['Index Name'] ?? node['Relation Name'] ?? ''}`.trim());
