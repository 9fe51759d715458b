/** Server-level operations: reachability, creating and dropping databases (dev tooling and tests). */
import { Client } from 'pg';

function maintenanceUrl(databaseUrl: string): { url: string; database: string } {
  const url = new URL(databaseUrl);
  const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || 'postgres';
  url.pathname = '/postgres';
  return { url: url.toString(), database };
}

async function withMaintenanceClient<T>(
  databaseUrl: string,
  fn: (client: Client, database: string) => Promise<T>,
): Promise<T> {
  const { url, database } = maintenanceUrl(databaseUrl);
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client, database);
  } finally {
    await client.end();
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Resolves when the server accepts connections; rejects with the connection error otherwise. */
export async function pingPostgres(databaseUrl: string): Promise<void> {
  await withMaintenanceClient(databaseUrl, async (client) => {
    await client.query('SELECT 1');
  });
}

/** Creates the database named in the URL when it does not exist. */
export async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  return withMaintenanceClient(databaseUrl, async (client, database) => {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount) return false;
    try {
      await client.query(`CREATE DATABASE ${quoteIdent(database)}`);
    } catch (err) {
      // Two processes may create it at once; the loser sees duplicate_database and carries on.
      if ((err as { code?: string }).code !== '42P04') throw err;
    }
    return true;
  });
}

export async function dropDatabase(databaseUrl: string): Promise<void> {
  await withMaintenanceClient(databaseUrl, async (client, database) => {
    await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`);
  });
}
