/**
 * `npm run retry-credits -- [--packet <id>]`: asks the credit pumps of the configured cell to retry their
 * set-aside claims now (the `retryNow` update, docs/credit-pump.md "Retry a stuck credit now"), for one
 * packet (its shard's pump) or for all (every pump of the cell), and prints what became of them. For
 * an operator who has fixed what kept the claims from being credited (a held wallet row released, say) and
 * does not want to wait out their backoff. It moves no money: the pumps credit the claims as always.
 * Exit code: 0 all credited (or nothing set aside), 1 a pump did not answer, 2 claims failed again or are
 * still due.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config';
import { createDb } from '../db';
import { createTemporal, pingTemporal } from '../temporal/client';
import { describeAnswers, retryCredits } from './lib/retryCredits';

const USAGE = 'usage: npm run retry-credits -- [--packet <packet id>]';
/** How long Temporal may take to answer a cheap call before the script gives up with one clear line. */
const TEMPORAL_PING_TIMEOUT_MS = 3_000;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { packet: { type: 'string' }, help: { type: 'boolean', default: false } },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new Error(USAGE);
  const config = loadConfig();
  const db = createDb(config, { applicationName: 'redpacket-retry-credits' });
  const temporal = createTemporal(config);
  try {
    console.log(
      `cell ${config.cells.self}: namespace ${config.temporal.namespace} at ${config.temporal.address}, ` +
        `${config.credit.shards} credit pump(s) ${config.credit.pumpIdPrefix}<shard>`,
    );
    await pingTemporal(temporal, TEMPORAL_PING_TIMEOUT_MS).catch((err: unknown) => {
      throw new Error(
        `Temporal did not answer at ${config.temporal.address} within ${TEMPORAL_PING_TIMEOUT_MS} ms: ` +
          (err instanceof Error ? err.message : String(err)),
      );
    });
    const answers = await retryCredits(
      { client: temporal.client, db, credit: config.credit, cells: config.cells },
      values.packet,
    );
    const { lines, exitCode } = describeAnswers(answers);
    console.log(lines.join('\n'));
    return exitCode;
  } finally {
    await Promise.allSettled([db.close(), temporal.close()]);
  }
}

// Exit as soon as the answer is out: a gRPC channel that never reached Temporal keeps retrying for a while.
main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  },
);
