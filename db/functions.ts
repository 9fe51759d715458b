/**
 * SQL functions have a home of their own: db/functions/<name>.sql holds the current text of one function as
 * `CREATE OR REPLACE FUNCTION <name>(...)`, so changing open_share is an edit of one file, not a new
 * migration that redefines it. Tables, indexes and triggers stay in the append-only migrations; a fresh
 * database runs those (which create the functions' first versions) and then these files override them.
 *
 * `migrate` applies the files after the migrations, under its advisory lock. schema_functions records the
 * checksum each file had when it was applied: an unchanged file is skipped, a changed one is applied again in
 * its own transaction, so every process that starts after a deploy finds the function current and applies
 * nothing. Dropping a function or changing its signature or return type is still a migration (CREATE OR
 * REPLACE cannot do either).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { Queryable } from './index';

export const FUNCTIONS_DIR = join(__dirname, 'functions');
const FILE_PATTERN = /^([a-z][a-z0-9_]*)\.sql$/;

export interface SqlFunctionFile {
  name: string;
  sql: string;
  checksum: string;
}

export async function loadFunctions(dir = FUNCTIONS_DIR): Promise<SqlFunctionFile[]> {
  const files = (await readdir(dir)).filter((file) => FILE_PATTERN.test(file)).sort();
  const functions: SqlFunctionFile[] = [];
  for (const file of files) {
    const name = FILE_PATTERN.exec(file)?.[1] ?? '';
    const sql = await readFile(join(dir, file), 'utf8');
    // The file must be safe to run again and must define what its name says: a plain CREATE FUNCTION
    // would fail on the second apply, and a misnamed file would leave its namesake stale.
    if (!new RegExp(`CREATE OR REPLACE FUNCTION ${name}\\(`).test(sql))
      throw new Error(
        `db/functions/${file} must define its function with CREATE OR REPLACE FUNCTION ${name}(`,
      );
    functions.push({ name, sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  return functions;
}

/**
 * Applies every function file whose checksum differs from the recorded one; returns the names applied.
 * The caller holds the migration lock on `client`, so two processes never apply one file at once.
 */
export async function applyFunctions(client: Queryable, dir = FUNCTIONS_DIR): Promise<string[]> {
  const functions = await loadFunctions(dir);
  await client.query(
    `CREATE TABLE IF NOT EXISTS schema_functions (
       name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
  );
  const done = await client.query<{ name: string; checksum: string }>(
    'SELECT name, checksum FROM schema_functions',
  );
  const checksumByName = new Map(done.rows.map((row) => [row.name, row.checksum]));
  const applied: string[] = [];
  for (const fn of functions) {
    if (checksumByName.get(fn.name) === fn.checksum) continue;
    await client.query('BEGIN');
    try {
      // As pg_dump does: a SQL-language function may name a function whose file sorts after its own, so
      // bodies are checked when called, not when created.
      await client.query('SET LOCAL check_function_bodies = off');
      await client.query(fn.sql);
      await client.query(
        `INSERT INTO schema_functions (name, checksum) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now()`,
        [fn.name, fn.checksum],
      );
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK');
      throw new Error(`function ${fn.name} failed to apply`, { cause: err });
    }
    applied.push(fn.name);
  }
  return applied;
}
