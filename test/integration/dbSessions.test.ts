/**
 * Our own Postgres sessions cannot hold rows for good (issue 24, finding 1): a session left idle inside a
 * transaction (a paused process, a lost client) is ended by Postgres after
 * DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS and its row locks go with it; and the credit lock timeout must
 * stay under the statement timeout, or a held row would fail as a timeout again.
 */
import { ConfigError, loadConfig } from '../../config';
import { createDb, PgErrorCode, pgErrorCode } from '../../db';
import { eventually } from '../support/credits';
import { createHarness, type Harness } from '../support/harness';
import { fund } from '../support/packets';

describe('our Postgres sessions', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  test('carry the configured idle-in-transaction timeout', async () => {
    expect(h.config.database.idleInTransactionTimeoutMs).toBe(60_000);
    const { rows } = await h.db.query<{ ms: string }>(
      `SELECT setting AS ms FROM pg_settings WHERE name = 'idle_in_transaction_session_timeout'`,
    );
    expect(rows[0]?.ms).toBe('60000');
  });

  test('a session left idle inside a transaction is ended, and the row it locked is free again', async () => {
    await fund(h, 'idle-holder', 1);
    const stalled = createDb(
      { database: { ...h.config.database, idleInTransactionTimeoutMs: 300 } },
      { applicationName: 'stalled' },
    );
    const client = await stalled.pool.connect();
    client.on('error', () => undefined);
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ pid: number }>(
        `SELECT pg_backend_pid() AS pid FROM accounts WHERE id = 'wallet:idle-holder' FOR UPDATE`,
      );
      const pid = rows[0]?.pid;
      // The client now does nothing, as a paused process would; Postgres ends its session.
      await eventually(
        async () => {
          const { rows: alive } = await h.db.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid]);
          return alive.length === 0 ? true : undefined;
        },
        10_000,
        'the idle session to be ended',
      );
      const free = await h.db.withTransaction(
        (tx) => tx.query(`SELECT 1 FROM accounts WHERE id = 'wallet:idle-holder' FOR UPDATE`),
        { lockTimeoutMs: 100 },
      );
      expect(free.rows).toHaveLength(1);
      await expect(client.query('SELECT 1')).rejects.toThrow();
    } finally {
      client.release(true);
      await stalled.close();
    }
  });

  test('a transaction with a lock timeout fails with lock_not_available instead of waiting', async () => {
    await fund(h, 'held-row', 1);
    const holder = await h.db.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT 1 FROM accounts WHERE id = 'wallet:held-row' FOR UPDATE`);
      const startedMs = Date.now();
      const failure = await h.db
        .withTransaction((tx) => tx.query(`SELECT 1 FROM accounts WHERE id = 'wallet:held-row' FOR UPDATE`), {
          lockTimeoutMs: 200,
        })
        .catch((err: unknown) => err);
      expect(pgErrorCode(failure)).toBe(PgErrorCode.LockNotAvailable);
      expect(Date.now() - startedMs).toBeLessThan(h.config.database.statementTimeoutMs);
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
  });

  test('a credit lock timeout not under the statement timeout is refused at start', () => {
    expect(() =>
      loadConfig({ DATABASE_STATEMENT_TIMEOUT_MS: '2000', CREDIT_LOCK_TIMEOUT_MS: '2000' }),
    ).toThrow(ConfigError);
    expect(
      loadConfig({ DATABASE_STATEMENT_TIMEOUT_MS: '2000', CREDIT_LOCK_TIMEOUT_MS: '1999' }).credit,
    ).toMatchObject({
      lockTimeoutMs: 1999,
    });
  });
});
