/**
 * Load shedding on the real API (api/overload/, docs/overload.md): with tiny budgets, requests beyond them
 * are answered 503 `overloaded` with Retry-After at once; grabs are shed before opens; a shed request
 * changes nothing (no hold, no claim, no packet, no payment, no idempotency record); sends over their budget
 * are refused and never paid. The pressure is set by hand here, except where a blocked event loop raises it,
 * and where opens held up in Postgres raise the open-latency pressure, which sheds grabs and never opens.
 */
import { randomUUID } from 'node:crypto';
import { createActivities } from '../../activities';
import type { AppContext } from '../../api/app';
import { OPEN_LATENCY_TICK_MS } from '../../api/overload/openLatency';
import { FixedPressure, processPressure } from '../../api/overload/pressure';
import { OVERLOADED } from '../../api/overload/shedder';
import type { GatedStep } from '../../api/routes/gated';
import { expectAuditClean } from '../support/audit';
import { holdPacketRow } from '../support/credits';
import { createHarness, type Harness } from '../support/harness';
import { walletAccount } from '../../domain/accounts';
import { balanceOf, fund, packetInput, uniqueTag } from '../support/ledgerFixtures';

/** A shed answer is written before any work; this leaves room for a loaded CI machine's loopback. */
const SHED_ANSWER_MAX_MS = 250;

interface Answer {
  status: number;
  body: Record<string, unknown>;
  retryAfter: string | null;
  contentType: string | null;
  ms: number;
}

async function call(
  url: string,
  method: 'GET' | 'POST',
  token: string,
  init: { body?: unknown; key?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  if (init.key) headers['idempotency-key'] = init.key;
  const startedMs = performance.now();
  const res = await fetch(url, {
    method,
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  return {
    status: res.status,
    body: (text ? JSON.parse(text) : {}) as Record<string, unknown>,
    retryAfter: res.headers.get('retry-after'),
    contentType: res.headers.get('content-type'),
    ms: performance.now() - startedMs,
  };
}

function expectShed(answer: Answer, cls: string): void {
  expect({ status: answer.status, code: answer.body['code'], class: answer.body['class'] }).toEqual({
    status: 503,
    code: OVERLOADED,
    class: cls,
  });
  expect(answer.retryAfter).toBe('1');
  expect(answer.contentType).toMatch(/^application\/problem\+json/);
  expect(answer.ms).toBeLessThan(SHED_ANSWER_MAX_MS);
}

const until = async (check: () => boolean, timeoutMs = 10_000) => {
  const startedMs = Date.now();
  while (!check()) {
    if (Date.now() - startedMs > timeoutMs) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

/** A paid, armed packet of `count` shares of 1 yuan (the payment activity, no workflow). */
async function paidPacket(
  h: Harness,
  activities: ReturnType<typeof createActivities>,
  count: number,
): Promise<string> {
  const tag = uniqueTag();
  await fund(h.db, `s-${tag}`, 100 * count);
  const input = packetInput({
    packetId: `ov-${tag}`,
    senderId: `s-${tag}`,
    totalFen: 100 * count,
    shareCount: count,
  });
  await activities.payPacket(input);
  return input.packetId;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('load shedding: the storm budget and pressure', () => {
  let h: Harness;
  let activities: ReturnType<typeof createActivities>;
  const pressure = new FixedPressure(0);
  let ctx: AppContext;
  let url: string;
  /** While set, grabs wait on it inside the action, so they stay in flight. */
  let grabLatch: Promise<void> | undefined;
  const holdGrabs: GatedStep = (gated) => (gated.action === 'grab' ? grabLatch : undefined);

  beforeAll(async () => {
    // Four places for grabs, opens and reads; grabs may take half of them.
    h = await createHarness({ OVERLOAD_STORM_IN_FLIGHT: '4', OVERLOAD_GRAB_SHARE_PERCENT: '50' });
    activities = createActivities({ db: h.db, redis: h.redis, credit: h.config.credit });
    const built = h.appWithContext(
      { pressure },
      { gated: (declaration) => ({ admit: declaration.admit, act: [holdGrabs, ...declaration.act] }) },
    );
    ctx = built.ctx;
    ({ url } = await h.listen(built.app));
  });
  afterEach(async () => {
    pressure.level = 0;
    grabLatch = undefined;
    await expectAuditClean(h.db);
  });
  afterAll(async () => {
    await h.close();
  });

  const token = (userId: string) => h.tokenFor(userId);
  const packet = (count: number) => paidPacket(h, activities, count);

  const remaining = async (packetId: string) =>
    (await h.db.query<{ n: number }>('SELECT remaining_count AS n FROM packets WHERE id = $1', [packetId]))
      .rows[0]?.n;
  const claims = async (packetId: string) =>
    (
      await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM claims WHERE packet_id = $1', [
        packetId,
      ])
    ).rows[0]?.n;

  test('grabs beyond their share of the budget are shed at once, opens still get in, and nothing changed', async () => {
    const packetId = await packet(5);
    const path = (action: string) => `${url}/v1/packets/${packetId}/${action}`;
    const winner = await token(`w-${uniqueTag()}`);
    expect((await call(path('grab'), 'POST', winner)).status).toBe(200);

    let release!: () => void;
    grabLatch = new Promise((resolve) => (release = resolve));
    const held = [await token('held-1'), await token('held-2')].map((t) => call(path('grab'), 'POST', t));
    await until(() => ctx.overload?.admission.inFlight.storm === 2);

    const latecomer = await token(`late-${uniqueTag()}`);
    const shed = await call(path('grab'), 'POST', latecomer);
    expectShed(shed, 'grab');
    // A packet read is in the grabs' share too.
    expectShed(await call(`${url}/v1/packets/${packetId}`, 'GET', latecomer), 'read');
    // The open of a share already won takes one of the places grabs may not.
    const opened = await call(path('open'), 'POST', winner);
    expect(opened.status).toBe(200);

    release();
    expect((await Promise.all(held)).map((answer) => answer.status)).toEqual([200, 200]);
    await until(() => ctx.overload?.admission.inFlight.storm === 0);
    // Three holds and one claim: the shed grab took nothing, and the same request now gets a hold.
    expect(await claims(packetId)).toBe(1);
    expect((await call(path('grab'), 'POST', latecomer)).status).toBe(200);
    expect(await remaining(packetId)).toBe(4);
    const shedCount = (await ctx.metrics.overloadShed.get()).values.reduce((sum, v) => sum + v.value, 0);
    expect(shedCount).toBe(2);
  });

  test('under pressure grabs are shed before opens, a shed open keeps its hold, and sends and money reads are not shed', async () => {
    const packetId = await packet(3);
    const path = (action: string) => `${url}/v1/packets/${packetId}/${action}`;
    const holder = await token(`h-${uniqueTag()}`);
    expect((await call(path('grab'), 'POST', holder)).status).toBe(200);

    pressure.level = 1;
    expectShed(await call(path('grab'), 'POST', await token(`g-${uniqueTag()}`)), 'grab');
    const first = await call(path('open'), 'POST', holder);
    expect(first.status).toBe(200);

    const second = await token(`h2-${uniqueTag()}`);
    pressure.level = 0;
    expect((await call(path('grab'), 'POST', second)).status).toBe(200);
    pressure.level = 2;
    expectShed(await call(path('open'), 'POST', second), 'open');
    // Every grab and open is refused now; the money read and health answer as before.
    expect((await call(`${url}/v1/me/balance`, 'GET', second)).status).toBe(200);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(await claims(packetId)).toBe(1);

    pressure.level = 0;
    const retried = await call(path('open'), 'POST', second);
    expect(retried.status).toBe(200);
    expect(await claims(packetId)).toBe(2);
  });

  test('the process pressure rises while the event loop is blocked, sheds grabs, and falls when it runs again', async () => {
    const live = processPressure(50);
    const built = h.appWithContext({ pressure: live });
    const { url: liveUrl } = await h.listen(built.app);
    const packetId = await packet(2);
    await until(() => live.level === 0);
    // Turns of 150 ms: three times the target, the way a saturated loop runs late.
    for (let turn = 0; turn < 6; turn++) {
      const untilMs = performance.now() + 150;
      while (performance.now() < untilMs) {
        // busy, as a saturated loop is
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(live.level).toBeGreaterThan(0.9);
    expectShed(await call(`${liveUrl}/v1/packets/${packetId}/grab`, 'POST', await token('blocked')), 'grab');
    await until(() => live.level === 0);
    expect(
      (await call(`${liveUrl}/v1/packets/${packetId}/grab`, 'POST', await token('blocked'))).status,
    ).toBe(200);
  });
});

describe('load shedding: the latency of opens', () => {
  /** A short target, so the opens held up below are several targets late. */
  const TARGET_MS = 100;
  /** Packets whose rows are held, each with OPENERS shares won and waiting to be opened. */
  const PACKETS = 12;
  const OPENERS = 2;
  let h: Harness;
  let activities: ReturnType<typeof createActivities>;
  let ctx: AppContext;
  let url: string;

  beforeAll(async () => {
    // The signal on (the harness turns it off), the CPU pressure held at 0 as everywhere. The pool has room
    // for the held rows and the open statements waiting on them (two per packet), and for the other opens.
    h = await createHarness({
      OVERLOAD_OPEN_LATENCY_TARGET_MS: String(TARGET_MS),
      DATABASE_POOL_MAX: String(3 * PACKETS + 4),
    });
    activities = createActivities({ db: h.db, redis: h.redis, credit: h.config.credit });
    const built = h.appWithContext();
    ctx = built.ctx;
    ({ url } = await h.listen(built.app));
  });
  afterAll(async () => {
    await expectAuditClean(h.db);
    await h.close();
  });

  const shedOf = async (reason: string) =>
    (await ctx.metrics.overloadShed.get()).values
      .filter((v) => v.labels['reason'] === reason)
      .reduce((sum, v) => sum + v.value, 0);

  test('opens held up in Postgres shed grabs and reads, never opens, and grabs are let in again once opens are answered', async () => {
    const guard = ctx.overload;
    if (!guard) throw new Error('shedding is on in the harness');
    const signal = guard.openLatency;
    const path = (packetId: string, action: string) => `${url}/v1/packets/${packetId}/${action}`;

    // Every share of the held packets is won; on the probe packet one share is won, one left for a latecomer.
    const held: { packetId: string; tokens: string[] }[] = [];
    for (let p = 0; p < PACKETS; p++) {
      const packetId = await paidPacket(h, activities, OPENERS);
      const tokens = await Promise.all(
        Array.from({ length: OPENERS }, () => h.tokenFor(`op-${uniqueTag()}`)),
      );
      for (const t of tokens) expect((await call(path(packetId, 'grab'), 'POST', t)).status).toBe(200);
      held.push({ packetId, tokens });
    }
    const probe = await paidPacket(h, activities, 2);
    const winner = await h.tokenFor(`win-${uniqueTag()}`);
    const latecomer = await h.tokenFor(`late-${uniqueTag()}`);
    expect((await call(path(probe, 'grab'), 'POST', winner)).status).toBe(200);

    // The packets' rows are held, as their settlement would; their opens are admitted and wait on them.
    const rows = await Promise.all(held.map(({ packetId }) => holdPacketRow(h.db, packetId)));
    const opens = held.flatMap(({ packetId, tokens }) =>
      tokens.map((t) => call(path(packetId, 'open'), 'POST', t)),
    );
    await until(() => guard.admission.opensInFlight === PACKETS * OPENERS);
    await sleep(2 * TARGET_MS);
    // Opens that only wait (on one row or many) push nothing: only late answers do.
    expect(signal.level).toBe(0);

    // The rows are let go one by one, each answering its openers late while the others still wait: a queue
    // of opens answering slower than the target. Each release's answers push the pressure up in their tick;
    // the quiet ticks after it hold it at its integral, which is what is read here (a tick later than the
    // release, the proportional part is gone).
    let released = 0;
    while (released < PACKETS - 3) {
      await rows[released++]?.release();
      await sleep(3 * OPEN_LATENCY_TICK_MS + 20);
      if (signal.level === 1) break;
    }
    expect(signal.level).toBe(1);
    expect(signal.latencyMs).toBeGreaterThan(2 * TARGET_MS);

    // Every grab and read is refused, named for the opens' latency; the open of a share already won is not.
    expectShed(await call(path(probe, 'grab'), 'POST', latecomer), 'grab');
    expectShed(await call(`${url}/v1/packets/${probe}`, 'GET', latecomer), 'read');
    expect((await call(path(probe, 'open'), 'POST', winner)).status).toBe(200);
    expect(await shedOf('open_latency')).toBe(2);
    expect(await ctx.metrics.registry.metrics()).toMatch(/^redpacket_overload_open_latency_pressure 1$/m);

    // The rest are let go: every held open is answered, and with none left in flight the grabs are let in.
    for (const row of rows.slice(released)) await row.release();
    const answers = await Promise.all(opens);
    expect(answers.map((answer) => answer.status)).toEqual(opens.map(() => 200));
    await until(() => signal.level === 0, 2_000);
    expect((await call(path(probe, 'grab'), 'POST', latecomer)).status).toBe(200);
    expect((await call(path(probe, 'open'), 'POST', latecomer)).status).toBe(200);
    const claims = await h.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM claims WHERE packet_id = ANY($1)',
      [[...held.map(({ packetId }) => packetId), probe]],
    );
    expect(claims.rows[0]?.n).toBe(PACKETS * OPENERS + 2);
    expect(await shedOf('pressure')).toBe(0);
  });
});

describe('load shedding: the send budget', () => {
  let h: Harness;
  let ctx: AppContext;
  let url: string;

  beforeAll(async () => {
    // No worker yet: admitted sends wait on Temporal, holding both places of the budget.
    h = await createHarness({ OVERLOAD_SEND_IN_FLIGHT: '2', SEND_DEADLINE_MS: '30000' });
    const built = h.appWithContext();
    ctx = built.ctx;
    ({ url } = await h.listen(built.app));
  });
  afterAll(async () => {
    await h.close();
  });

  const keyRows = async (senderId: string) =>
    (
      await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM packet_requests WHERE sender_id = $1', [
        senderId,
      ])
    ).rows[0]?.n;
  const packetsOf = async (senderId: string) =>
    (
      await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM packets WHERE sender_id = $1', [
        senderId,
      ])
    ).rows[0]?.n;

  test('sends over the budget are refused with 503 overloaded, nothing recorded or paid, and their retry pays once', async () => {
    const tag = uniqueTag();
    const senders = [0, 1, 2, 3].map((i) => `snd${i}-${tag}`);
    for (const senderId of senders) await fund(h.db, senderId, 1_000);
    const tokens = await Promise.all(senders.map((senderId) => h.tokenFor(senderId)));
    const keys = senders.map(() => `send-${randomUUID()}`);
    const body = { type: 'random', amountFen: 300, count: 3 };
    const sendAs = (i: number) =>
      call(`${url}/v1/packets`, 'POST', tokens[i] as string, { body, key: keys[i] as string });

    const admitted = [sendAs(0), sendAs(1)];
    await until(() => ctx.overload?.admission.inFlight.send === 2);
    for (const i of [2, 3]) {
      expectShed(await sendAs(i), 'send');
      const senderId = senders[i] as string;
      expect(await keyRows(senderId)).toBe(0);
      expect(await packetsOf(senderId)).toBe(0);
      expect(await balanceOf(h.db, walletAccount(senderId))).toBe(1_000);
    }

    await h.startWorker();
    expect((await Promise.all(admitted)).map((answer) => answer.status)).toEqual([201, 201]);
    await until(() => ctx.overload?.admission.inFlight.send === 0);
    // The refused sends, retried with their keys, pay once each; a second retry replays the first answer.
    for (const i of [2, 3]) {
      const paid = await sendAs(i);
      expect(paid.status).toBe(201);
      const replay = await sendAs(i);
      expect(replay.body['packetId']).toBe(paid.body['packetId']);
    }
    for (const senderId of senders) {
      expect(await packetsOf(senderId)).toBe(1);
      expect(await balanceOf(h.db, walletAccount(senderId))).toBe(700);
    }
    await expectAuditClean(h.db);
  });
});
