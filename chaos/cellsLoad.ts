/**
 * The light mixed load of the region outage run: 20 users homed in each cell, each request sent to either
 * cell's API at random (any API takes any request and forwards what the other cell owns), so both cells'
 * packets are sent, grabbed, opened and read by users of both homes. Deposits and sends are retried with
 * their Idempotency-Key as a careful client does (a 503 region_unavailable is such a retry's cue); every
 * (packet, user) is grabbed and opened at most once, so an open's answer alone says whether its claim exists.
 */
import { sleep } from '../bench/progress';
import { homeCellOf } from '../domain/cells';
import type { ChaosClient } from './client';
import { CELL_NAMES, type CellName } from './cellsWorld';
import type { Rng } from './rng';

export const USERS_PER_HOME = 20;
const ADMIN = 'chaos-admin';
const FUNDING_FEN = 200_000;
const MAX_ITERATIONS = 5_000;
/** Sends in flight at once: sends of users homed in the cut cell retry through the cut, the others go on. */
const SENDS_IN_FLIGHT_MAX = 12;

/** The first USERS_PER_HOME user ids `c<i>` homed in each cell. */
export function cellUsers(): Record<CellName, string[]> {
  const users: Record<CellName, string[]> = { n: [], s: [] };
  for (let i = 0; users.n.length < USERS_PER_HOME || users.s.length < USERS_PER_HOME; i++) {
    const userId = `c${i}`;
    const home = homeCellOf(userId, CELL_NAMES) as CellName;
    if (users[home].length < USERS_PER_HOME) users[home].push(userId);
  }
  return users;
}

interface LivePacket {
  packetId: string;
  expiresAtMs: number;
  recipientId?: string;
  tried: Set<string>;
}

export interface CellsLoadContext {
  clients: Record<CellName, ChaosClient>;
  runId: string;
  deadlineMs: number;
  maxExpiryS: number;
}

let keySeq = 0;
const nextKey = (ctx: CellsLoadContext, prefix: string) => `${prefix}-${ctx.runId}-${++keySeq}`;

/** A request's entry: either cell's API, chosen by the seed. */
const entry = (ctx: CellsLoadContext, rng: Rng): { client: ChaosClient; entry: CellName } => {
  const name = rng.pick(CELL_NAMES);
  return { client: ctx.clients[name], entry: name };
};

async function deposit(ctx: CellsLoadContext, rng: Rng, userId: string, amountFen: number): Promise<void> {
  const via = entry(ctx, rng);
  await via.client.retried(
    'deposit',
    ADMIN,
    { path: '/v1/admin/deposits', body: { userId, amountFen }, key: nextKey(ctx, 'dep'), admin: true },
    { amountFen, forUserId: userId, entry: via.entry },
  );
}

/** Funds every user before the cut, through both entries. */
export async function fundCellUsers(ctx: CellsLoadContext, rng: Rng, users: string[]): Promise<void> {
  await Promise.all(users.map((userId) => deposit(ctx, rng, userId, FUNDING_FEN)));
}

function sendBody(rng: Rng, sender: string, users: string[], maxExpiryS: number): Record<string, unknown> {
  const roll = rng.next();
  const expiresInSeconds = rng.int(8, maxExpiryS);
  if (roll < 0.2) {
    const count = rng.int(2, 5);
    return { type: 'random', amountFen: rng.int(count, 3_000), count, expiresInSeconds: rng.int(3, 8) };
  }
  if (roll < 0.35) {
    const count = rng.int(1, 6);
    return { type: 'fixed', amountFen: count * rng.int(1, 500), count, expiresInSeconds };
  }
  if (roll < 0.45) {
    const recipientId = rng.pick(users.filter((user) => user !== sender));
    return { type: 'personal', amountFen: rng.int(1, 5_000), count: 1, recipientId, expiresInSeconds };
  }
  const count = rng.int(2, 12);
  return { type: 'random', amountFen: rng.int(count, 8_000), count, expiresInSeconds };
}

async function send(ctx: CellsLoadContext, rng: Rng, users: string[], live: LivePacket[]): Promise<void> {
  const sender = rng.pick(users);
  const body = sendBody(rng, sender, users, ctx.maxExpiryS);
  const via = entry(ctx, rng);
  const answer = await via.client.retried(
    'send',
    sender,
    { path: '/v1/packets', body, key: nextKey(ctx, 'send') },
    { amountFen: body.amountFen as number, entry: via.entry },
  );
  if (answer.outcome !== 'ok' || typeof answer.body?.packetId !== 'string') return;
  const packet: LivePacket = {
    packetId: answer.body.packetId,
    expiresAtMs: Date.now() + (body.expiresInSeconds as number) * 1000,
    tried: new Set(),
  };
  if (typeof body.recipientId === 'string') packet.recipientId = body.recipientId;
  live.push(packet);
}

async function spread(ctx: CellsLoadContext, rng: Rng, users: string[], live: LivePacket[]): Promise<void> {
  const candidates = live.filter(
    (packet) => packet.expiresAtMs > Date.now() + 500 && users.some((user) => !packet.tried.has(user)),
  );
  if (candidates.length === 0) return;
  const packet = rng.pick(candidates);
  const untried = users.filter((user) => !packet.tried.has(user));
  const recipient = packet.recipientId;
  const userId = recipient && !packet.tried.has(recipient) && rng.chance(0.7) ? recipient : rng.pick(untried);
  packet.tried.add(userId);
  const path = `/v1/packets/${packet.packetId}`;
  const grabVia = entry(ctx, rng);
  const fields = { packetId: packet.packetId };
  const grab = await grabVia.client.call(
    'grab',
    userId,
    { method: 'POST', path: `${path}/grab` },
    { ...fields, entry: grabVia.entry },
  );
  if (grab.outcome !== 'ok') return;
  const openVia = entry(ctx, rng);
  await openVia.client.call(
    'open',
    userId,
    { method: 'POST', path: `${path}/open` },
    { ...fields, entry: openVia.entry },
  );
}

async function read(ctx: CellsLoadContext, rng: Rng, users: string[], live: LivePacket[]): Promise<void> {
  const userId = rng.pick(users);
  const via = entry(ctx, rng);
  const fields = { entry: via.entry };
  const roll = rng.next();
  if (roll < 0.3) {
    const answer = await via.client.call(
      'balance',
      userId,
      { method: 'GET', path: '/v1/me/balance' },
      fields,
    );
    if (answer.outcome === 'ok' && (answer.body?.balanceFen as number) < 0)
      via.client.history.wrong(`balance of ${userId} negative: ${JSON.stringify(answer.body)}`);
  } else if (roll < 0.5) {
    await via.client.call('bills', userId, { method: 'GET', path: '/v1/me/bills?limit=20' }, fields);
  } else if (roll < 0.75) {
    await via.client.call(
      'received',
      userId,
      { method: 'GET', path: '/v1/me/packets/received?limit=20' },
      fields,
    );
  } else if (live.length > 0) {
    const packet = rng.pick(live);
    await via.client.call(
      'detail',
      packet.recipientId ?? userId,
      { method: 'GET', path: `/v1/packets/${packet.packetId}` },
      { ...fields, packetId: packet.packetId },
    );
  }
}

async function loop(ctx: CellsLoadContext, thinkMs: () => number, body: () => Promise<void>): Promise<void> {
  for (let i = 0; i < MAX_ITERATIONS && Date.now() < ctx.deadlineMs; i++) {
    await body();
    await sleep(thinkMs());
  }
}

/** Runs the loops until the deadline, then waits for every send still retrying to be decided. */
export async function runCellsLoad(ctx: CellsLoadContext, rng: Rng, users: string[]): Promise<void> {
  const live: LivePacket[] = [];
  const running = new Set<Promise<void>>();
  const detached = async (task: () => Promise<void>) => {
    while (running.size >= SENDS_IN_FLIGHT_MAX) await Promise.race(running);
    const started: Promise<void> = task().finally(() => running.delete(started));
    running.add(started);
  };
  await Promise.all([
    ...[2, 3].map((salt) => {
      const r = rng.fork(salt);
      return loop(
        ctx,
        () => r.int(300, 900),
        () => detached(() => send(ctx, r, users, live)),
      );
    }),
    ...[4, 5, 6].map((salt) => {
      const r = rng.fork(salt);
      return loop(
        ctx,
        () => r.int(50, 200),
        () => spread(ctx, r, users, live),
      );
    }),
    (() => {
      const r = rng.fork(7);
      return loop(
        ctx,
        () => r.int(100, 300),
        () => read(ctx, r, users, live),
      );
    })(),
  ]);
  await Promise.all(running);
}
