/**
 * What ships runs the hot lane. docker-compose.yml (and `npm start`, which sets no LOG_LEVEL) run the API at
 * the default level; there a storm-shaped grab or open must be answered by the lane and print no line, and
 * only a 5xx or a slow answer is logged (api/logging.ts). At debug every request gets pino-http's line and
 * the lane stands aside.
 */
import { join } from 'node:path';
import request from 'supertest';
import { createActivities } from '../../activities';
import type { AppContext } from '../../api/app';
import { ENV_VARIABLES, loadConfig, type Config } from '../../config';
import { createLogger } from '../../config/logger';
import { readCompose, serviceEnvironment } from '../../scripts/lib/compose';
import { expectAuditClean } from '../support/audit';
import { createHarness, type Harness } from '../support/harness';
import { isOpenStatement } from '../support/openCounter';
import { fund, packetInput, uniqueTag } from '../support/ledgerFixtures';

/** The API's configuration as `docker compose up` gives it, this process's own environment left out. */
function shippedConfig(): Config {
  const compose = readCompose(join(__dirname, '../../docker-compose.yml'));
  const cleanSlate = Object.fromEntries(ENV_VARIABLES.map((name) => [name, undefined]));
  const shell = { AUTH_SECRET: 'compose-test-secret-0123456789' };
  return loadConfig({ ...cleanSlate, ...serviceEnvironment(compose, 'api', shell) });
}

interface LogLine {
  level: number;
  msg: string;
  req?: { id?: string; method?: string; url?: string };
  res?: { statusCode?: number };
  responseTimeMs?: number;
  userId?: string;
}

const laneCount = async (ctx: AppContext) =>
  (await ctx.metrics.hotLane.get()).values.reduce((sum, value) => sum + value.value, 0);

/** pino's numeric levels. */
const DEBUG = 20;
const WARN = 40;

describe('request logging in the shipped configuration', () => {
  let h: Harness;
  let activities: ReturnType<typeof createActivities>;
  const shipped = shippedConfig();

  beforeAll(async () => {
    h = await createHarness();
    activities = createActivities({ db: h.db, redis: h.redis, credit: h.config.credit });
  });
  afterEach(async () => {
    await expectAuditClean(h.db);
  });
  afterAll(async () => {
    await h.close();
  });

  /** An app on this file's clients whose logger prints at `logLevel` into `lines`. */
  function appAt(logLevel: Config['logLevel'], overrides: Partial<Config> = {}, db = h.db) {
    const lines: LogLine[] = [];
    const config: Config = {
      ...h.config,
      logLevel,
      logSlowRequestMs: shipped.logSlowRequestMs,
      ...overrides,
    };
    const log = createLogger(config, 'test-api', { write: (line: string) => lines.push(JSON.parse(line)) });
    return { ...h.appWithContext({ config, log, db }), lines };
  }

  /** A paid, armed packet of `count` shares. */
  async function packet(count: number): Promise<string> {
    const tag = uniqueTag();
    await fund(h.db, `s-${tag}`, 100 * count);
    const input = packetInput({
      packetId: `sl-${tag}`,
      senderId: `s-${tag}`,
      totalFen: 100 * count,
      shareCount: count,
    });
    await activities.payPacket(input);
    return input.packetId;
  }

  /** A POST as a storm client sends it: a bearer token, no body; an Idempotency-Key takes it off the lane. */
  async function post(app: ReturnType<typeof appAt>['app'], path: string, userId: string, key?: string) {
    const req = request(app)
      .post(path)
      .set('Authorization', `Bearer ${await h.tokenFor(userId)}`);
    return key ? req.set('Idempotency-Key', key) : req;
  }

  test('compose runs the API at the default level, info, where a storm-shaped grab and open take the hot lane and print nothing', async () => {
    expect(shipped.logLevel).toBe('info');
    const { app, ctx, lines } = appAt(shipped.logLevel);
    const packetId = await packet(2);
    expect((await post(app, `/v1/packets/${packetId}/grab`, 'u1')).status).toBe(200);
    expect((await post(app, `/v1/packets/${packetId}/open`, 'u1')).status).toBe(200);
    expect((await post(app, `/v1/packets/${packetId}/grab`, 'u1')).status).toBe(409);
    expect(await laneCount(ctx)).toBe(3);
    // No request lines; only an answer slower than LOG_SLOW_REQUEST_MS (a loaded test machine) may show.
    expect(lines.filter((line) => line.msg !== 'slow request')).toEqual([]);
  });

  test('a slow answer is logged at warn with its request id, by the lane and by the app', async () => {
    const slowMs = 25;
    // An open statement that takes twice the threshold, as under a locked packet row.
    const slowDb = {
      ...h.db,
      query: (async (text: string, values?: unknown[]) => {
        if (isOpenStatement(text)) await new Promise((resolve) => setTimeout(resolve, 2 * slowMs));
        return h.db.query(text, values);
      }) as typeof h.db.query,
    };
    const { app, ctx, lines } = appAt(shipped.logLevel, { logSlowRequestMs: slowMs }, slowDb);
    const packetId = await packet(2);
    const answers = [];
    for (const [userId, key] of [
      ['u2', undefined],
      ['u3', `k-${uniqueTag()}`],
    ] as const) {
      expect((await post(app, `/v1/packets/${packetId}/grab`, userId)).status).toBe(200);
      answers.push({ userId, answer: await post(app, `/v1/packets/${packetId}/open`, userId, key) });
    }
    // The first open went by the lane (two grabs and one open), the second through the app.
    expect(await laneCount(ctx)).toBe(3);
    const slow = lines.filter((line) => line.msg === 'slow request' && line.req?.url?.endsWith('/open'));
    expect(
      slow.map((line) => ({
        level: line.level,
        id: line.req?.id,
        status: line.res?.statusCode,
        userId: line.userId,
      })),
    ).toEqual(
      answers.map(({ userId, answer }) => ({
        level: WARN,
        id: answer.headers['x-request-id'],
        status: 200,
        userId,
      })),
    );
    for (const line of slow) expect(line.responseTimeMs).toBeGreaterThanOrEqual(slowMs);
  });

  test('at debug every request gets its line and the lane stands aside', async () => {
    const { app, ctx, lines } = appAt('debug');
    const packetId = await packet(2);
    const grab = await post(app, `/v1/packets/${packetId}/grab`, 'u4');
    expect(grab.status).toBe(200);
    expect(await laneCount(ctx)).toBe(0);
    expect(lines.filter((line) => line.req?.id === grab.headers['x-request-id'])).toEqual([
      expect.objectContaining({ level: DEBUG, res: { statusCode: 200 }, userId: 'u4' }),
    ]);
  });
});
