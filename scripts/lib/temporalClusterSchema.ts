/**
 * The Temporal cluster's two Postgres databases (history and visibility), created and brought to the schema
 * of temporal-server 1.29.1 with its own tool, `temporal-sql-tool`, as Temporal documents for a new cluster:
 * `setup-schema -v 0.0` once (the version tables), then `update-schema` with the schema embedded in the tool
 * (`postgresql/v12/temporal`, `postgresql/v12/visibility`), which is a no-op on a database already current.
 */
import { spawnSync } from 'node:child_process';
import { dropDatabase, ensureDatabase } from '../../db/admin';
import { withDatabase } from './isolation';
import type { SqlStore } from './temporalClusterConfig';

export interface ClusterDatabases {
  /** Any URL on the Postgres server: host, port and credentials are taken from it. */
  serverUrl: string;
  history: string;
  visibility: string;
}

/** `<name>` holds executions and shards, `<name>_visibility` the list and search-attribute tables. */
export function clusterDatabases(serverUrl: string, name: string): ClusterDatabases {
  return { serverUrl, history: name, visibility: `${name}_visibility` };
}

export function sqlStoreOf(serverUrl: string): SqlStore {
  const url = new URL(serverUrl);
  return {
    host: url.hostname,
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username || 'postgres'),
    password: decodeURIComponent(url.password),
  };
}

function sqlTool(sqlToolPath: string, store: SqlStore, database: string, args: string[]): void {
  const common = ['--ep', store.host, '-p', String(store.port), '-u', store.user, '--pl', 'postgres12'];
  if (store.password) common.push('--pw', store.password);
  const result = spawnSync(sqlToolPath, [...common, '--db', database, ...args], { encoding: 'utf8' });
  if (result.status !== 0) {
    const output = `${result.stderr}\n${result.stdout}`.trim().split('\n').slice(-5).join('\n');
    throw new Error(`temporal-sql-tool ${args[0]} on ${database} failed: ${output}`);
  }
}

/**
 * Creates both databases when missing and updates their schemas. Returns whether the history database was
 * new: only then does the first node write the shard count, which the server refuses to change afterwards.
 */
export async function prepareClusterDatabases(
  sqlToolPath: string,
  databases: ClusterDatabases,
  log: (line: string) => void,
): Promise<boolean> {
  const store = sqlStoreOf(databases.serverUrl);
  let created = false;
  for (const [database, schema] of [
    [databases.history, 'postgresql/v12/temporal'],
    [databases.visibility, 'postgresql/v12/visibility'],
  ] as const) {
    const isNew = await ensureDatabase(withDatabase(databases.serverUrl, database));
    if (isNew) {
      sqlTool(sqlToolPath, store, database, ['setup-schema', '-v', '0.0']);
      if (database === databases.history) created = true;
    }
    sqlTool(sqlToolPath, store, database, ['update-schema', '--schema-name', schema]);
    log(`${isNew ? 'created' : 'updated'} ${database} (schema ${schema})`);
  }
  return created;
}

export async function dropClusterDatabases(databases: ClusterDatabases): Promise<void> {
  for (const database of [databases.history, databases.visibility]) {
    await dropDatabase(withDatabase(databases.serverUrl, database));
  }
}
