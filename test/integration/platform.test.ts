import request from 'supertest';
import { createHarness, type Harness } from '../support/harness';
import { selfCheckWorkflow } from '../../workflows';

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
