/**
 * `npm run token -- <userId> [--admin] [--ttl 3600]` prints a bearer token signed with AUTH_SECRET, for curl
 * and local clients. It is a development tool: production tokens come from the identity provider.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_TOKEN_TTL_SECONDS, signToken } from '../api/auth';
import { loadConfig } from '../config';
import { USER_ID_PATTERN } from '../domain/accounts';

const USAGE = 'usage: npm run token -- <userId> [--admin] [--ttl <seconds>]';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      admin: { type: 'boolean', default: false },
      ttl: { type: 'string', default: String(DEFAULT_TOKEN_TTL_SECONDS) },
    },
  });
  const [userId, ...extra] = positionals;
  if (!userId || extra.length > 0) throw new Error(USAGE);
  if (!USER_ID_PATTERN.test(userId)) throw new Error(`user ids are 1-64 letters, digits, _ or -\n${USAGE}`);
  const ttlSeconds = Number(values.ttl);
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1)
    throw new Error(`--ttl takes whole seconds\n${USAGE}`);

  const config = loadConfig();
  process.stdout.write(
    `${await signToken(config.auth.secret, userId, { admin: values.admin, ttlSeconds })}\n`,
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
