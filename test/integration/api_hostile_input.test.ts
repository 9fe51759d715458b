/**
 * Finding 9 of issue 13: inputs that answered 5xx. A forged cursor holding NUL reached Postgres ("invalid
 * byte sequence for encoding UTF8"), a broken percent-escape in a path threw a URIError inside Express's
 * router (a 500 logged at error level, for anyone without a token), and greetings accepted the bidi overrides
 * and C1 controls that other clients would render. Each must be a 4xx problem that does no work.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import request from 'supertest';
import type { Express } from 'express';
import type { AppContext } from '../../api/app';
import { createHarness, type Harness } from '../support/harness';
import { fund } from '../support/packets';

const b64 = (text: string) => Buffer.from(text).toString('base64url');
const PINO_ERROR_LEVEL = 50;

describe('hostile input answers 4xx', () => {
  let h: Harness;
  let app: Express;
  let ctx: AppContext;
  const logLines: { level: number; res?: { statusCode: number } }[] = [];

  beforeAll(async () => {
    h = await createHarness();
    await fund(h, 'hostile_sender', 100);
    // The app logs into this array, so a test can show that a refusal is not an error-level event.
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
          logLines.push(JSON.parse(line));
        done();
      },
    });
    // At debug, where every request gets its line (api/logging.ts).
    ({ app, ctx } = h.appWithContext({ log: pino({ level: 'debug' }, sink) }));
  });
  afterAll(async () => {
    await h.close();
  });

  const requestLines = (from: number) => logLines.slice(from).filter((line) => line.res !== undefined);

  async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error('condition not met in time');
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  const bearer = async (userId: string) => ({ Authorization: `Bearer ${await h.tokenFor(userId)}` });

  test.each([
    ['a NUL in the position id', b64('{"v":1,"p":2,"k":{"createdUs":1,"id":"a\\u0000b"}}')],
    ['a lone surrogate in the position id', b64('{"v":1,"p":2,"k":{"createdUs":1,"id":"\\ud800"}}')],
  ])('a list cursor with %s is 400 invalid_cursor', async (_label, cursor) => {
    for (const list of ['/v1/me/packets/sent', '/v1/me/packets/received']) {
      const res = await request(app)
        .get(list)
        .query({ cursor })
        .set(await bearer('hostile_lister'));
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ status: 400, code: 'invalid_cursor' });
    }
  });

  test('a broken percent-escape in a path is 400 invalid_path before any work, and not an error in the log', async () => {
    const consume = jest.spyOn(ctx.rateLimits, 'consume');
    const errorsBefore = logLines.filter((line) => line.level >= PINO_ERROR_LEVEL).length;
    const linesBefore = logLines.length;
    const attempts: ['get' | 'post', string][] = [
      ['get', '/v1/packets/%ZZ'],
      ['post', '/v1/packets/%ZZ/grab'],
      ['post', '/v1/packets/%E0%A4%A/open'],
      ['get', '/v1/packets/%C0%AF'],
      ['get', '/v1/nothing/here%'],
    ];
    try {
      for (const [method, path] of attempts) {
        const agent = request(app);
        const res = await (method === 'get' ? agent.get(path) : agent.post(path))
          .set(await bearer('hostile_prober'))
          .set('Content-Type', 'application/json')
          .send(method === 'post' ? '{"not": "parsed"' : undefined);
        expect(res.status).toBe(400);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.body).toMatchObject({ status: 400, code: 'invalid_path' });
        expect(res.text).not.toMatch(/URIError|decodeURIComponent|at .*\.(ts|js):\d+/);
      }
      // Neither the per-IP limit nor any later step ran: the path was refused on arrival.
      expect(consume).not.toHaveBeenCalled();
    } finally {
      consume.mockRestore();
    }
    // pino-http writes each request's line as the response finishes; wait for all of them, then look.
    await until(() => requestLines(linesBefore).length >= attempts.length);
    expect(requestLines(linesBefore).map((line) => line.res?.statusCode)).toEqual(attempts.map(() => 400));
    expect(logLines.filter((line) => line.level >= PINO_ERROR_LEVEL)).toHaveLength(errorsBefore);
  });

  test.each([
    ['a right-to-left override U+202E', 'gift \u202Egnp.exe'],
    ['a left-to-right embedding U+202A', '\u202Ahello'],
    ['a first-strong isolate U+2068', 'hi \u2068there\u2069'],
    ['a pop directional isolate U+2069', 'hi\u2069'],
    ['a next-line control U+0085', 'line\u0085break'],
    ['a C1 control U+009B', 'esc\u009B31m'],
    ['a line separator U+2028', 'two\u2028lines'],
    ['a lone surrogate', 'half \ud83d emoji'],
  ])('a greeting with %s is refused as invalid_packet and moves no money', async (_label, greeting) => {
    const before = await h.ledgerTotals();
    const res = await request(app)
      .post('/v1/packets')
      .set(await bearer('hostile_sender'))
      .set('Idempotency-Key', `greeting-${greeting}`.replace(/[^\x20-\x7e]/g, '?'))
      .send({ type: 'random', amountFen: 100, count: 1, greeting });
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ code: 'invalid_packet', detail: expect.stringMatching(/greeting/) });
    expect(await h.ledgerTotals()).toEqual(before);
  });
});
