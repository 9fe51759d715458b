/**
 * The mixed load, all of it bounded in count and time and aimed at the run's own API on loopback: deposits,
 * sends (group, fixed, personal, short-lived, and some a poor sender cannot afford), storms of grab+open on
 * hot packets, grab+open spread over the open packets, and reads. Each (packet, user) is grabbed and opened
 * at most once, so an open's answer alone says whether its claim must exist.
 */
import { sleep } from '../bench/progress';
import type { ChaosClient } from './client';
import type { ChaosOptions } from './options';
import type { Rng } from './rng';

export const RICH_USERS = Array.from({ length: 60 }, (_, i) => `u${i}`);
export const POOR_USERS = ['p0', 'p1', 'p2', 'p3'];
const ADMIN = 'chaos-admin';
const RICH_FUNDING_FEN = 400_000;
const POOR_FUNDING_FEN = 50;
const STORM_CROWD = 25;
/** No loop runs more iterations than this, whatever the duration: the load is bounded in count too. */
const MAX_ITERATIONS = 5_000;

interface LivePacket {
  packetId: string;
  count: number;
  expiresAtMs: number;
  hot: boolean;
  recipientId?: string;
  tried: Set<string>;
}

export interface LoadContext {
  client: ChaosClient;
  options: ChaosOptions;
  runId: string;
  deadlineMs: number;
}

let keySeq = 0;
const nextKey = (ctx: LoadContext, prefix: string) => `${prefix}-${ctx.runId}-${++keySeq}`;

async function deposit(ctx: LoadContext, userId: string, amountFen: number): Promise<void> {
  await ctx.client.retried(
    'deposit',
    ADMIN,
    { path: '/v1/admin/deposits', body: { userId, amountFen }, key: nextKey(ctx, 'dep'), admin: true },
    { amountFen, forUserId: userId },
  );
}

/** Funds every user before the faults begin, so sends mostly succeed and the poor ones mostly get 402. */
export async function fundUsers(ctx: LoadContext): Promise<void> {
  await Promise.all(RICH_USERS.map((userId) => deposit(ctx, userId, RICH_FUNDING_FEN)));
  await Promise.all(POOR_USERS.map((userId) => deposit(ctx, userId, POOR_FUNDING_FEN)));
}

async function loop(ctx: LoadContext, thinkMs: () => number, body: () => Promise<void>): Promise<void> {
  for (let i = 0; i < MAX_ITERATIONS && Date.now() < ctx.deadlineMs; i++) {
    await body();
    await sleep(thinkMs());
  }
}

type SendShape = { body: Record<string, unknown>; sender: string; hot: boolean };

function sendShape(rng: Rng, maxExpiryS: number): SendShape {
  const roll = rng.next();
  const sender = rng.pick(RICH_USERS);
  const expiresInSeconds = rng.int(10, maxExpiryS);
  if (roll < 0.15) {
    const count = rng.int(30, 60);
    return {
      sender,
      hot: true,
      body: { type: 'random', amountFen: rng.int(count * 10, 20_000), count, expiresInSeconds },
    };
  }
  if (roll < 0.35) {
    // Short-lived: these expire and settle (claims credited, the rest refunded) while faults run.
    const count = rng.int(2, 6);
    return {
      sender,
      hot: false,
      body: { type: 'random', amountFen: rng.int(count, 3_000), count, expiresInSeconds: rng.int(3, 8) },
    };
  }
  if (roll < 0.45) {
    const count = rng.int(1, 8);
    return {
      sender,
      hot: false,
      body: { type: 'fixed', amountFen: count * rng.int(1, 500), count, expiresInSeconds },
    };
  }
  if (roll < 0.52) {
    const recipientId = rng.pick(RICH_USERS.filter((user) => user !== sender));
    return {
      sender,
      hot: false,
      body: { type: 'personal', amountFen: rng.int(1, 5_000), count: 1, recipientId, expiresInSeconds },
    };
  }
  if (roll < 0.58) {
    // More than a poor wallet holds: the send must answer 402 and pay nothing.
    const poor = rng.pick(POOR_USERS);
    return {
      sender: poor,
      hot: false,
      body: { type: 'random', amountFen: rng.int(1_000, 5_000), count: 2, expiresInSeconds },
    };
  }
  const count = rng.int(1, 12);
  return {
    sender,
    hot: false,
    body: { type: 'random', amountFen: rng.int(count, 8_000), count, expiresInSeconds },
  };
}

async function send(ctx: LoadContext, rng: Rng, live: LivePacket[]): Promise<void> {
  const shape = sendShape(rng, ctx.options.maxExpiryS);
  const amountFen = shape.body.amountFen as number;
  const answer = await ctx.client.retried(
    'send',
    shape.sender,
    { path: '/v1/packets', body: shape.body, key: nextKey(ctx, 'send') },
    { amountFen },
  );
  if (answer.outcome !== 'ok' || typeof answer.body?.packetId !== 'string') return;
  const packet: LivePacket = {
    packetId: answer.body.packetId,
    count: shape.body.count as number,
    expiresAtMs: Date.now() + (shape.body.expiresInSeconds as number) * 1000,
    hot: shape.hot,
    tried: new Set(),
  };
  if (typeof shape.body.recipientId === 'string') packet.recipientId = shape.body.recipientId;
  live.push(packet);
}

/** One grab and, when granted, one open; never repeated for the same (packet, user). */
async function grabOpen(ctx: LoadContext, packet: LivePacket, userId: string): Promise<void> {
  packet.tried.add(userId);
  const path = `/v1/packets/${packet.packetId}`;
  const grab = await ctx.client.call(
    'grab',
    userId,
    { method: 'POST', path: `${path}/grab` },
    { packetId: packet.packetId },
  );
  if (grab.outcome !== 'ok') return;
  await ctx.client.call(
    'open',
    userId,
    { method: 'POST', path: `${path}/open` },
    { packetId: packet.packetId },
  );
}

const untried = (packet: LivePacket) => RICH_USERS.filter((user) => !packet.tried.has(user));
const alive = (live: LivePacket[]) => live.filter((packet) => packet.expiresAtMs > Date.now() + 500);

async function spread(ctx: LoadContext, rng: Rng, live: LivePacket[]): Promise<void> {
  const candidates = alive(live).filter((packet) => !packet.hot && untried(packet).length > 0);
  if (candidates.length === 0) return;
  const packet = rng.pick(candidates);
  // Personal packets: the recipient, or now and then someone else, who must be refused and get nothing.
  const recipient = packet.recipientId;
  const user =
    recipient && !packet.tried.has(recipient) && rng.chance(0.7) ? recipient : rng.pick(untried(packet));
  await grabOpen(ctx, packet, user);
}

async function storm(ctx: LoadContext, rng: Rng, live: LivePacket[]): Promise<void> {
  const hot = alive(live).filter((packet) => packet.hot && untried(packet).length > 0);
  if (hot.length === 0) return;
  const packet = rng.pick(hot);
  const crowd = untried(packet).slice(0, STORM_CROWD);
  await Promise.all(crowd.map((user) => grabOpen(ctx, packet, user)));
}

async function read(ctx: LoadContext, rng: Rng, live: LivePacket[]): Promise<void> {
  const user = rng.pick(RICH_USERS);
  const history = ctx.client.history;
  const roll = rng.next();
  if (roll < 0.4) {
    const answer = await ctx.client.call('balance', user, { method: 'GET', path: '/v1/me/balance' });
    const body = answer.body;
    if (answer.outcome === 'ok' && ((body?.balanceFen as number) < 0 || (body?.pendingFen as number) < 0))
      history.wrong(`balance of ${user} negative: ${JSON.stringify(body)}`);
  } else if (roll < 0.7) {
    await ctx.client.call('bills', user, { method: 'GET', path: '/v1/me/bills?limit=20' });
  } else if (live.length > 0) {
    const packet = rng.pick(live);
    const answer = await ctx.client.call(
      'detail',
      packet.recipientId ?? user,
      { method: 'GET', path: `/v1/packets/${packet.packetId}` },
      { packetId: packet.packetId },
    );
    const body = answer.body;
    if (answer.outcome === 'ok' && body) {
      const claims = (body.claims as { amountFen: number }[] | undefined) ?? [];
      const claimedFen = claims.reduce((sum, claim) => sum + claim.amountFen, 0);
      if (claims.length > (body.count as number) || claimedFen > (body.totalFen as number))
        history.wrong(
          `packet ${packet.packetId} shows ${claims.length} claims of ${claimedFen} fen: ${answer.status}`,
        );
    }
  }
}

/**
 * A loop body that does not wait for its task: a deposit or send retrying for up to 90 s must not stop its
 * loop from sending more, as one stuck payment does not stop other users'. At most `max` run at once;
 * `drain` waits for the rest, so the load still ends with every operation decided or given up.
 */
function detached(max: number) {
  const running = new Set<Promise<void>>();
  return {
    async run(task: () => Promise<void>): Promise<void> {
      while (running.size >= max) await Promise.race(running);
      const started: Promise<void> = task().finally(() => running.delete(started));
      running.add(started);
    },
    drain: () => Promise.all(running),
  };
}

/** Runs every loop until the deadline; each loop draws from its own fork of the seed. */
export async function runLoad(ctx: LoadContext, rng: Rng): Promise<void> {
  const live: LivePacket[] = [];
  const depositRng = rng.fork(1);
  const deposits = detached(2);
  const sends = detached(6);
  await Promise.all([
    loop(
      ctx,
      () => 400,
      () => deposits.run(() => deposit(ctx, depositRng.pick(RICH_USERS), depositRng.int(100, 50_000))),
    ),
    ...[2, 3].map((salt) => {
      const r = rng.fork(salt);
      return loop(
        ctx,
        () => r.int(200, 700),
        () => sends.run(() => send(ctx, r, live)),
      );
    }),
    ...[4, 5].map((salt) => {
      const r = rng.fork(salt);
      return loop(
        ctx,
        () => r.int(20, 120),
        () => spread(ctx, r, live),
      );
    }),
    (() => {
      const r = rng.fork(6);
      return loop(
        ctx,
        () => r.int(2_000, 5_000),
        () => storm(ctx, r, live),
      );
    })(),
    (() => {
      const r = rng.fork(7);
      return loop(
        ctx,
        () => r.int(100, 300),
        () => read(ctx, r, live),
      );
    })(),
  ]);
  await Promise.all([deposits.drain(), sends.drain()]);
}
