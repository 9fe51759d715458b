/**
 * The machine's limits for the two halves of the hot path, without HTTP: the grab Lua script called straight
 * from ioredis (many holders on big gates, so every call grants), and the open transaction (openShare) in a
 * raw pg loop over prepared packets, one packet per concurrent lane so no row lock is shared.
 */
import { creditNextBatch } from '../../packets/creditBatch';
import { openShare } from '../../packets/store/openShare';
import { armGate, GATE_EXPIRY_GRACE_MS, removeGate } from '../../packets/gate/gate';
import { cpuMeter, type BenchContext } from '../context';
import { payDirect } from '../fixtures';
import { runFlows } from '../flows';
import { mapLimit } from '../load';
import { SHARES_PER_BURST_PACKET } from '../options';
import { figure, type Figure } from '../stats';

const REDIS_GATES = 10;
const GATE_EXPIRY_MS = 3_600_000;
const PG_PACKET_FEN = 10_000;
const SETUP_CONCURRENCY = 10;
export const HOT_PACKETS = 5;

export async function redisGrabReference(ctx: BenchContext): Promise<Figure> {
  const { redis, config, runId } = ctx.world;
  const calls = ctx.sizes.redisGrabs;
  const gates = Array.from({ length: REDIS_GATES }, (_, g) => `benchredis${g}${runId}`);
  for (const packetId of gates) {
    await armGate(redis, {
      packetId,
      remainingCount: calls,
      shareCount: calls,
      expiresAtMs: Date.now() + GATE_EXPIRY_MS,
      claimedUserIds: [],
      audience: null,
    });
  }
  const { keys, scripts } = redis;
  const meter = cpuMeter(ctx);
  const run = await runFlows('Redis grabShare, raw ioredis', calls, ctx.sizes.redisConcurrency, async (i) => {
    const packetId = gates[i % REDIS_GATES] as string;
    const [status] = await scripts.grabShare(
      ...keys.gateScript(packetId),
      `ru${i}`,
      config.packet.holdMs,
      GATE_EXPIRY_GRACE_MS,
    );
    return status === 1
      ? { outcome: 'granted', requests: 1 }
      : { outcome: `error status ${status}`, requests: 1 };
  });
  const result = meter(
    figure({
      id: 'ref.redis',
      label: 'machine: grabShare Lua via raw ioredis',
      unit: 'calls',
      count: run.count,
      durationMs: run.durationMs,
      latencies: run.latenciesMs,
      errors: run.errors,
      notes: [`${REDIS_GATES} gates, ${ctx.sizes.redisConcurrency} calls in flight`, ...run.errorExamples],
    }),
  );
  for (const packetId of gates) await removeGate(redis, packetId);
  return ctx.report.add(result);
}

/**
 * Opens of one hot packet at a time, one transaction per open, 8 in flight (what the API's per-packet
 * limiter allowed before it batched, and about the best a raw pg loop gets from one row lock here): the rate
 * at which a packet's row lock lets single opens commit when nothing else competes for the process.
 */
const HOT_OPEN_LANES = 8;

export async function hotPacketOpenReference(ctx: BenchContext): Promise<Figure> {
  const { db, runId } = ctx.world;
  const packets = Array.from({ length: HOT_PACKETS }, (_, p) => `benchpghot${p}x${runId}`);
  await mapLimit(packets, SETUP_CONCURRENCY, (packetId, p) =>
    payDirect(ctx.world, {
      packetId,
      senderId: `pghotsender${p}`,
      totalFen: PG_PACKET_FEN,
      count: SHARES_PER_BURST_PACKET,
    }),
  );
  const meter = cpuMeter(ctx);
  const latencies: number[] = [];
  let durationMs = 0;
  let errors = 0;
  for (const packetId of packets) {
    const run = await runFlows(
      `hot packet opens, ${HOT_OPEN_LANES} lanes`,
      SHARES_PER_BURST_PACKET,
      HOT_OPEN_LANES,
      async (i) => {
        const claim = await openShare(db, packetId, `pghot${i}`);
        return claim.created ? { outcome: 'opened', requests: 1 } : { outcome: 'error repeat', requests: 1 };
      },
    );
    latencies.push(...run.latenciesMs);
    durationMs += run.durationMs;
    errors += run.errors;
  }
  const result = meter(
    figure({
      id: 'ref.pg.hot',
      label: `machine: opens of one hot packet via raw pg, ${HOT_OPEN_LANES} at a time`,
      unit: 'transactions',
      count: latencies.length,
      durationMs,
      latencies,
      errors,
      notes: [`${HOT_PACKETS} packets one after the other`],
    }),
  );
  await creditAll(ctx);
  return ctx.report.add(result);
}

/**
 * Not measured: credits the claims by the credit pump's batch step (shard 0 of 1 is every packet), so the
 * books end as the service leaves them.
 */
async function creditAll(ctx: BenchContext): Promise<void> {
  const { largeMinFen, batchMax } = ctx.world.config.credit;
  const slice = { shard: 0, shards: 1, largeMinFen, limit: batchMax };
  while ((await creditNextBatch(ctx.world.db, slice)).picked >= slice.limit);
}

export async function postgresOpenReference(ctx: BenchContext): Promise<Figure> {
  const { db, runId } = ctx.world;
  const packets = Array.from({ length: ctx.sizes.pgOpenPackets }, (_, p) => `benchpg${p}x${runId}`);
  await mapLimit(packets, SETUP_CONCURRENCY, (packetId, p) =>
    payDirect(ctx.world, {
      packetId,
      senderId: `pgsender${p}`,
      totalFen: PG_PACKET_FEN,
      count: SHARES_PER_BURST_PACKET,
    }),
  );
  const opens = packets.length * SHARES_PER_BURST_PACKET;
  const meter = cpuMeter(ctx);
  const run = await runFlows(
    'Postgres open transaction, raw pg',
    opens,
    ctx.sizes.pgConcurrency,
    async (i) => {
      const packetId = packets[i % packets.length] as string;
      const claim = await openShare(db, packetId, `pgu${Math.floor(i / packets.length)}`);
      return claim.created ? { outcome: 'opened', requests: 1 } : { outcome: 'error repeat', requests: 1 };
    },
  );
  const result = meter(
    figure({
      id: 'ref.pg',
      label: 'machine: open transaction (openShare) via raw pg',
      unit: 'transactions',
      count: run.count,
      durationMs: run.durationMs,
      latencies: run.latenciesMs,
      errors: run.errors,
      notes: [
        `${packets.length} packets, ${ctx.sizes.pgConcurrency} transactions in flight`,
        ...run.errorExamples,
      ],
    }),
  );
  await creditAll(ctx);
  return ctx.report.add(result);
}
