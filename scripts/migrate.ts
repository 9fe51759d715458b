/** `npm run migrate`: ensures the database exists and applies pending migrations. */
import { loadConfig } from '../config';
import { createDb } from '../db';
import { migrate } from '../db/migrate';
import { ensurePostgres } from './lib/services';

async function main(): Promise<void> {
  const config = loadConfig();
  await ensurePostgres(config, console.log);
  const db = createDb(config, { applicationName: 'redpacket-migrate' });
  try {
    const { applied, functions } = await migrate(db);
    console.log(applied.length ? `applied ${applied.join(', ')}` : 'migrations up to date');
    if (functions.length) console.log(`applied functions ${functions.join(', ')}`);
  } finally {
    await db.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
