/**
 * A small migration runner: numbered SQL files in db/migrations, applied in order, each in its own
 * transaction, recorded in schema_migrations; then the SQL functions, one file each in db/functions (see
 * db/functions.ts). A session advisory lock keyed by the schema name makes two processes starting at once
 * (API and worker) take turns instead of racing.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { Db } from './index';
import { applyFunctions, FUNCTIONS_DIR } from './functions';

export const MIGRATIONS_DIR = join(__dirname, 'migrations');
const FILE_PATTERN = /^(\d{4})_[a-z0-9_]+\.sql$/;

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((file) => FILE_PATTERN.test(file)).sort();
  const migrations: Migration[] = [];
  for (const name of files) {
    const sql = await readFile(join(dir, name), 'utf8');
    const version = Number(FILE_PATTERN.exec(name)?.[1]);
    if (migrations.some((m) => m.version === version))
      throw new Error(`two migrations share number ${version}`);
    migrations.push({ version, name, sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  return migrations;
}

/** A stable 63-bit lock id per schema, so different schemas (test files) migrate in parallel. */
function advisoryLockKey(schema: string): string {
  return BigInt(
    '0x' + createHash('sha256').update(`migrate:${schema}`).digest('hex').slice(0, 15),
  ).toString();
}

export interface MigrateDirs {
  /** Numbered, append-only migrations: tables, indexes, triggers. */
  migrationsDir?: string;
  /** One file per SQL function, the function's current text (db/functions.ts). */
  functionsDir?: string;
}

export async function migrate(
  db: Db,
  { migrationsDir = MIGRATIONS_DIR, functionsDir = FUNCTIONS_DIR }: MigrateDirs = {},
): Promise<{ applied: string[]; functions: string[] }> {
  const migrations = await loadMigrations(migrationsDir);
  const client = await db.pool.connect();
  const lockKey = advisoryLockKey(db.schema);
  const applied: string[] = [];
  let functions: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [lockKey]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${db.schema}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         version int PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const done = await client.query<{ version: number; name: string; checksum: string }>(
      'SELECT version, name, checksum FROM schema_migrations',
    );
    const doneByVersion = new Map(done.rows.map((row) => [row.version, row]));
    for (const migration of migrations) {
      const previous = doneByVersion.get(migration.version);
      if (previous) {
        // Migrations are append-only: an edited file that already ran is a mistake worth stopping for.
        if (previous.checksum !== migration.checksum) {
          throw new Error(
            `migration ${migration.name} changed after it was applied; add a new migration instead`,
          );
        }
        continue;
      }
      await client.query('BEGIN');
      try {
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
          migration.version,
          migration.name,
          migration.checksum,
        ]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${migration.name} failed`, { cause: err });
      }
      applied.push(migration.name);
    }
    // After the migrations, so a function file always has the tables it names and overrides the older
    // definitions that the migrations themselves create on a fresh database.
    functions = await applyFunctions(client, functionsDir);
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [lockKey]).catch(() => undefined);
    client.release();
  }
  return { applied, functions };
}
