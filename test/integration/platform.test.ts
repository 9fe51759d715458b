import request from 'supertest';
import { createHarness, type Harness } from '../support/harness';
import { selfCheckWorkflow } from '../../workflows';
import { statementOf } from '../../db';

describe('platform', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  test('a real workflow runs a real activity against Postgres and Redis', async () => {
    await h.startWorker();
    const marker = `m-${Date.now()}`;
    const result = await h.temporal.client.workflow.execute(selfCheckWorkflow, {
      taskQueue: h.config.temporal.taskQueue,
      workflowId: `self-check-${marker}`,
      args: [marker],
    });
    expect(result.serverVersion).toMatch(/^\d+/);
    expect(result.postgresMs).toBeGreaterThanOrEqual(0);
    // The activity wrote its marker under this file's prefix, which proves it used the isolated Redis keys.
    expect(await h.redis.client.get(`${h.redis.keys.prefix}selfcheck:${marker}`)).toBe(marker);
  });

  test('a parameterized statement is prepared once per connection and reused', async () => {
    const text = 'SELECT $1::int + 1 AS n';
    const named = await h.db.withTransaction(async (tx) => {
      for (let i = 0; i < 3; i++) expect((await tx.query<{ n: number }>(text, [i])).rows[0]?.n).toBe(i + 1);
      const { rows } = await tx.query<{ name: string; calls: number }>(
        'SELECT name, generic_plans + custom_plans AS calls FROM pg_prepared_statements WHERE statement = $1',
        [text],
      );
      return rows;
    });
    // One statement of that text on this connection, planned for each of the three executions, parsed once.
    expect(named).toEqual([{ name: statementOf(text, [0]).name, calls: 3 }]);
    // A text without values keeps the simple protocol, so it may hold several statements.
    expect(statementOf('SELECT 1; SELECT 2')).toEqual({ text: 'SELECT 1; SELECT 2' });
  });

  test('migrations ran into the file-private schema', async () => {
    const { rows } = await h.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2',
      [h.config.database.schema, 'schema_migrations'],
    );
    expect(rows[0]?.n).toBe(1);
  });

  test('healthz answers and readyz reports every dependency ready', async () => {
    const app = h.app();
    await request(app).get('/healthz').expect(200, { status: 'ok' });
    const ready = await request(app).get('/readyz').expect(200);
    expect(ready.body).toMatchObject({ status: 'ready', down: [] });
    expect(ready.body.checks.postgres.status).toBe('ok');
    expect(ready.body.checks.redis.status).toBe('ok');
    expect(ready.body.checks.temporal.status).toBe('ok');
  });

  test('unknown routes are problem documents, not HTML', async () => {
    const res = await request(h.app()).get('/nope').expect(404);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.body).toMatchObject({ status: 404, code: 'not_found' });
  });
});
