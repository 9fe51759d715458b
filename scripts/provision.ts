/**
 * `npm run provision` (and CI): everything the tests and the service need on this machine, without starting
 * the service: Postgres and Redis up, the database migrated, the Temporal CLI found or built.
 */
import { loadConfig } from '../config';
import { createDb } from '../db';
import { migrate } from '../db/migrate';
import { ensurePostgres, ensureRedis } from './lib/services';
import { findTemporalCli } from './lib/temporalCli';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = (line: string) => console.log(`[provision] ${line}`);
  await ensurePostgres(config, log);
  await ensureRedis(config, log);
  const db = createDb(config, { applicationName: 'redpacket-provision' });
  try {
    const { applied, functions } = await migrate(db);
    log(applied.length ? `applied ${applied.join(', ')}` : 'migrations up to date');
    if (functions.length) log(`applied functions ${functions.join(', ')}`);
  } finally {
    await db.close();
  }
  log(`Temporal CLI: ${await findTemporalCli(config.temporal.cliPath, log)}`);
}

main().catch((err: unknown) => {
  console.error(`[provision] ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
