/**
 * SQL functions live in db/functions/<name>.sql and `migrate` applies them after the migrations, once per
 * change of a file (db/functions.ts). Runs on a schema of its own, so rewriting a function cannot disturb
 * the harness's.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDb, type Db } from '../../db';
import { FUNCTIONS_DIR, loadFunctions } from '../../db/functions';
import { migrate } from '../../db/migrate';
import { createHarness, type Harness } from '../support/harness';

/** The body of a function file: the text between its dollar quotes, which Postgres keeps as prosrc. */
function bodyOf(sql: string): string {
  const body = /AS \$\$([\s\S]*)\$\$;/.exec(sql)?.[1];
  if (body === undefined) throw new Error('a function file without a $$ body');
  return body;
}

async function definitions(db: Db): Promise<Map<string, string>> {
  const { rows } = await db.query<{ name: string; src: string }>(
    `SELECT p.proname AS name, p.prosrc AS src FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = $1`,
    [db.schema],
  );
  return new Map(rows.map((row) => [row.name, row.src]));
}

describe('SQL functions in db/functions', () => {
  let h: Harness;
  let db: Db;
  let dir: string;
  beforeAll(async () => {
    h = await createHarness();
    db = createDb({ database: { ...h.config.database, schema: `${h.config.database.schema}_fn` } });
    dir = await mkdtemp(join(tmpdir(), 'rp-functions-'));
    await cp(FUNCTIONS_DIR, dir, { recursive: true });
  });
  afterAll(async () => {
    await db.query(`DROP SCHEMA IF EXISTS ${db.schema} CASCADE`);
    await db.close();
    await rm(dir, { recursive: true, force: true });
    await h.close();
  });

  test('a fresh schema gets every function file, and a second migrate applies nothing', async () => {
    const files = await loadFunctions();
    const first = await migrate(db);
    expect(first.functions).toEqual(files.map((fn) => fn.name));
    expect(await migrate(db)).toEqual({ applied: [], functions: [] });
  });

  test('every function in the schema is defined by its file, word for word', async () => {
    const files = await loadFunctions();
    const current = await definitions(db);
    // No function lives only in a migration: each has a file, and what Postgres runs is that file's text.
    expect([...current.keys()].sort()).toEqual(files.map((fn) => fn.name));
    for (const fn of files)
      expect({ name: fn.name, src: current.get(fn.name) }).toEqual({
        name: fn.name,
        src: bodyOf(fn.sql),
      });
    // The same holds for the harness's schema, which every other test file runs against.
    const harness = await definitions(h.db);
    for (const fn of files) expect(harness.get(fn.name)).toBe(bodyOf(fn.sql));
  });

  test('a changed file is applied again once, and two migrates at once apply it once', async () => {
    const file = join(dir, 'packet_claimable.sql');
    const original = await readFile(file, 'utf8');
    await writeFile(file, original.replace('SELECT CASE', 'SELECT /* edited once */ CASE'));
    expect((await migrate(db, { functionsDir: dir })).functions).toEqual(['packet_claimable']);
    expect((await definitions(db)).get('packet_claimable')).toContain('edited once');
    expect((await migrate(db, { functionsDir: dir })).functions).toEqual([]);

    await writeFile(file, original.replace('SELECT CASE', 'SELECT /* edited twice */ CASE'));
    const other = createDb({ database: { ...h.config.database, schema: db.schema } });
    try {
      const both = await Promise.all([
        migrate(db, { functionsDir: dir }),
        migrate(other, { functionsDir: dir }),
      ]);
      expect(both.flatMap((result) => result.functions)).toEqual(['packet_claimable']);
    } finally {
      await other.close();
    }
    expect((await definitions(db)).get('packet_claimable')).toContain('edited twice');

    // Back to the repository's text: applied again, since the recorded checksum is the edited file's.
    expect((await migrate(db)).functions).toEqual(['packet_claimable']);
    expect((await definitions(db)).get('packet_claimable')).toBe(bodyOf(original));
  });

  test('every IMMUTABLE SQL-language function is inlined by the planner, so calling it costs nothing', async () => {
    // A function the planner cannot inline is planned on every call from plpgsql (about 55 us here): claim_id
    // once cost that on every open, because text || int is only STABLE. A generic plan over parameters shows
    // whether the call survives planning: inlined, it becomes its expression.
    const { rows } = await h.db.query<{ name: string; args: string }>(
      `SELECT p.proname AS name, oidvectortypes(p.proargtypes) AS args
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
        WHERE n.nspname = $1 AND l.lanname = 'sql' AND p.provolatile = 'i'`,
      [h.db.schema],
    );
    expect(rows.map((row) => row.name).sort()).toEqual(
      expect.arrayContaining([
        'claim_id',
        'escrow_account',
        'fields_fingerprint',
        'transfer_id',
        'wallet_account',
      ]),
    );
    const notInlined = await h.db.withTransaction(async (tx) => {
      await tx.query('SET LOCAL plan_cache_mode = force_generic_plan');
      const survivors: string[] = [];
      for (const { name, args } of rows) {
        const types = args.split(', ');
        const params = types.map((_type, index) => `$${index + 1}`).join(', ');
        const nulls = types.map((type) => `NULL::${type}`).join(', ');
        await tx.query(`PREPARE inline_probe(${args}) AS SELECT ${name}(${params})`);
        const plan = await tx.query<{ 'QUERY PLAN': string }>(
          `EXPLAIN (VERBOSE) EXECUTE inline_probe(${nulls})`,
        );
        await tx.query('DEALLOCATE inline_probe');
        const text = plan.rows.map((line) => line['QUERY PLAN']).join('\n');
        if (text.includes(`${name}(`)) survivors.push(`${name}: ${text}`);
      }
      return survivors;
    });
    expect(notInlined).toEqual([]);
  });

  test("the day CHECKs hold day_of_id's and transfer_day's expressions, not calls of them, and refuse a row in another day", async () => {
    // A CHECK is prepared at every INSERT and UPDATE, and a call of a SQL function in it would be inlined
    // (its text parsed again) each time: migration 0019 wrote the inlined expressions instead.
    const { rows } = await h.db.query<{ table: string; def: string }>(
      `SELECT c.conrelid::regclass::text AS table, pg_get_constraintdef(c.oid) AS def
         FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
        WHERE n.nspname = $1 AND c.conname IN ('packets_day', 'claims_day', 'transfers_day')
          AND c.conrelid::regclass::text IN ('packets', 'claims', 'transfers')`,
      [h.db.schema],
    );
    expect(rows.map((row) => row.table).sort()).toEqual(['claims', 'packets', 'transfers']);
    for (const { def } of rows) {
      expect(def).not.toMatch(/day_of_id|transfer_day/);
      expect(def).toMatch(/CASE/);
    }
    // The same rule as the functions: a transfer whose day is its key's day is taken, the day before is not
    // (each day before is a partition that exists: yesterday's, and the legacy one for days before 1970).
    const today = new Date().toISOString().slice(0, 10).replaceAll('-', '');
    const keys = [
      `${today}cn1r00000000001aaaaaaaaaaaaa`,
      `${today}cn1r00000000001aaaaaaaaaaaaa-7`,
      'hand-written',
    ];
    const probed = new Error('probe rolled back');
    const probe = h.db.withTransaction(async (tx) => {
      await tx.query(
        `INSERT INTO accounts (id, kind, owner_id) VALUES ('wallet:checkA', 'wallet', 'checkA'),
           ('wallet:checkB', 'wallet', 'checkB') ON CONFLICT DO NOTHING`,
      );
      for (const [i, key] of keys.entries()) {
        const insert = (dayExpression: string) =>
          tx.query(
            `INSERT INTO transfers (day, id, debit_account_id, credit_account_id, amount_fen, kind)
             VALUES (${dayExpression}, $1, 'wallet:checkA', 'wallet:checkB', 1, 'deposit')`,
            [`checkprobe${i}:${key}`],
          );
        await tx.query('SAVEPOINT probe');
        await expect(insert('transfer_day($1) - 1')).rejects.toMatchObject({
          code: '23514',
          constraint: 'transfers_day',
        });
        await tx.query('ROLLBACK TO SAVEPOINT probe');
        await insert('transfer_day($1)');
      }
      throw probed;
    });
    await expect(probe).rejects.toBe(probed);
  });
});
