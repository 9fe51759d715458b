/**
 * The storm (N clients, one 100-share packet) against the references: the bare Express + Redis grab, and
 * the traditional design with no middleware and with the service's middleware. Same client count and
 * concurrency as scenario 1, so latencies compare at the same concurrency.
 */
import { STORM_SHARES } from '../options';
import { cpuMeter, type BenchContext } from '../context';
import { claimCount } from '../credits';
import { payDirect } from '../fixtures';
import { outcomeOf, runFlows, type FlowRun } from '../flows';
import { bearer } from '../http';
import { figure, type Figure } from '../stats';
import { armGate } from '../../packets/gate/gate';
import { TRADITIONAL_PATH } from '../traditional';

const STORM_TOTAL_FEN = 20_000;
const GATE_EXPIRY_MS = 3_600_000;

export const stormUserPrefix = 'st';

function stormFigure(id: string, label: string, unit: string, run: FlowRun, notes: string[] = []): Figure {
  return figure({
    id,
    label,
    unit,
    count: run.count,
    durationMs: run.durationMs,
    latencies: run.latenciesMs,
    errors: run.errors,
    notes: [...notes, ...run.errorExamples],
  });
}

/** The bare Express endpoint making the grab's Redis call, on a gate of 100 shares. */
export async function bareStorm(ctx: BenchContext, tag: string, clients: number): Promise<Figure> {
  const packetId = `benchbare${tag}${ctx.world.runId}`;
  await armGate(ctx.world.redis, {
    packetId,
    remainingCount: STORM_SHARES,
    shareCount: STORM_SHARES,
    expiresAtMs: Date.now() + GATE_EXPIRY_MS,
    claimedUserIds: [],
    audience: null,
  });
  await ctx.bare.preconnect(ctx.sizes.stormConcurrency);
  const meter = cpuMeter(ctx);
  const run = await runFlows(
    `bare Express + Redis grab (${tag})`,
    clients,
    ctx.sizes.stormConcurrency,
    async (i) =>
      outcomeOf(
        'grab',
        await ctx.bare.post(`/grab/${packetId}`, { headers: { 'x-user-id': `${stormUserPrefix}${i}` } }),
        { 200: 'granted', 409: 'refused' },
        1,
      ),
  );
  return meter(
    stormFigure('ref.bare', 'bare Express + Redis grab, storm shape', 'requests', run, [
      `granted ${run.outcomes['granted'] ?? 0}`,
    ]),
  );
}

/** The traditional design: one Postgres transaction per grab under the packet's row lock. */
export async function traditionalStorm(
  ctx: BenchContext,
  tag: string,
  clients: number,
  withMiddleware: boolean,
): Promise<{ figure: Figure; claims: number }> {
  const packetId = `benchtrad${withMiddleware ? 'full' : 'bare'}${tag}${ctx.world.runId}`;
  await payDirect(ctx.world, {
    packetId,
    senderId: `tradsender${tag}`,
    totalFen: STORM_TOTAL_FEN,
    count: STORM_SHARES,
  });
  const tokens = withMiddleware
    ? await ctx.tokens(ctx.world.config.auth.secret, stormUserPrefix, clients)
    : [];
  const label = `traditional, ${withMiddleware ? 'service middleware' : 'bare Express'} (${tag})`;
  await (withMiddleware ? ctx.full : ctx.bare).preconnect(ctx.sizes.stormConcurrency);
  const meter = cpuMeter(ctx);
  const run = await runFlows(label, clients, ctx.sizes.stormConcurrency, async (i) => {
    const answer = withMiddleware
      ? await ctx.full.post(TRADITIONAL_PATH.replace(':id', packetId), {
          headers: bearer(tokens[i] as string),
        })
      : await ctx.bare.post(`/traditional/${packetId}`, {
          headers: { 'x-user-id': `${stormUserPrefix}${i}` },
        });
    return outcomeOf('grab', answer, { 200: 'claimed', 409: 'refused' }, 1);
  });
  const claims = await claimCount(ctx.world.db, [packetId]);
  const id = withMiddleware ? 'ref.trad.full' : 'ref.trad';
  const text = withMiddleware
    ? 'traditional: 1 PG tx per grab, service middleware'
    : 'traditional: 1 PG tx per grab (lock, share, credit), bare Express';
  return { figure: meter(stormFigure(id, text, 'clients', run, [`claims ${claims}`])), claims };
}
