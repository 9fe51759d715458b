/**
 * Scenario 1, the hot packet storm: N clients grab-then-open one 100-share packet through the full API
 * (auth, validation, rate limits, idempotency layer, metrics). Then the grab endpoint alone in the same
 * storm shape, against the bare Express + Redis reference.
 */
import { cpuMeter, type BenchContext } from '../context';
import { claimCount, creditTimes, historyTotals, waitForCredits } from '../credits';
import { userIds } from '../fixtures';
import { outcomeOf, runFlows, type FlowResult } from '../flows';
import { bearer, type HttpClient } from '../http';
import { STORM_SHARES } from '../options';
import { stormUserPrefix } from '../references/httpStorms';
import { figure, summarize, type Figure } from '../stats';

const STORM_TOTAL_FEN = 20_000;
const CREDIT_WAIT_MS = 60_000;

/** One client: grab; when granted, open. A refusal at the gate is an expected answer, not an error. */
export async function grabThenOpen(http: HttpClient, packetId: string, token: string): Promise<FlowResult> {
  const headers = bearer(token);
  const grabStartedMs = performance.now();
  const grab = await http.post(`/v1/packets/${packetId}/grab`, { headers });
  const grabMs = performance.now() - grabStartedMs;
  if (grab.status !== 200)
    return { ...outcomeOf('grab', grab, { 409: 'refused' }, 1), steps: { grab: grabMs } };
  const open = await http.post(`/v1/packets/${packetId}/open`, { headers });
  const openMs = performance.now() - grabStartedMs - grabMs;
  return { ...outcomeOf('open', open, { 200: 'opened' }, 2), steps: { grab: grabMs, open: openMs } };
}

/** Funds sender `${senderPrefix}0` and sends one 100-share packet from it. */
export async function sendStormPacket(ctx: BenchContext, senderPrefix: string): Promise<string> {
  const [senderId] = userIds(senderPrefix, 1);
  await ctx.api.fund(senderId as string, STORM_TOTAL_FEN);
  const [token] = await ctx.tokens(ctx.api.secret, senderPrefix, 1);
  return ctx.api.send(token as string, { type: 'random', amountFen: STORM_TOTAL_FEN, count: STORM_SHARES });
}

export async function apiStorm(ctx: BenchContext, tag: string, clients: number) {
  const packetId = await sendStormPacket(ctx, `stormsender${tag}`);
  const tokens = await ctx.tokens(ctx.api.secret, stormUserPrefix, clients);
  await ctx.api.http.preconnect(ctx.sizes.stormConcurrency);
  const meter = cpuMeter(ctx);
  const run = await runFlows(`API grab-then-open (${tag})`, clients, ctx.sizes.stormConcurrency, (i) =>
    grabThenOpen(ctx.api.http, packetId, tokens[i] as string),
  );
  const claims = await claimCount(ctx.world.service.db, [packetId]);
  const credited = await waitForCredits(ctx.world.service.db, [packetId], CREDIT_WAIT_MS);
  meter.stop();
  return { run, packetId, claims, credited, meter };
}

export async function stormScenario(ctx: BenchContext, clients: number): Promise<Figure> {
  const { run, packetId, claims, credited, meter } = await apiStorm(ctx, 'storm', clients);
  const db = ctx.world.service.db;
  const lag = summarize((await creditTimes(db, [packetId])).lagsMs);
  const history = await historyTotals(ctx.world.service.temporal, [packetId], CREDIT_WAIT_MS);
  const storm = ctx.report.add(
    meter(
      figure({
        id: 's1.storm',
        label: '1. hot packet storm: grab-then-open, full API',
        unit: 'clients',
        count: run.count,
        durationMs: run.durationMs,
        latencies: run.latenciesMs,
        errors: run.errors,
        notes: [`${run.requests} HTTP requests; CPU includes crediting the 100 claims`, ...run.errorExamples],
      }),
    ),
  );
  ctx.report.fact('1. storm', 'claims', claims);
  ctx.report.fact('1. storm', 'opens answered 200', run.outcomes['opened'] ?? 0);
  ctx.report.fact('1. storm', 'HTTP requests per s', Math.round((run.requests * 1000) / run.durationMs));
  const grabs = summarize(run.stepLatenciesMs['grab'] ?? []);
  const opens = summarize(run.stepLatenciesMs['open'] ?? []);
  ctx.report.fact('1. storm', 'grab p50/p99 ms', `${Math.round(grabs.p50Ms)}/${Math.round(grabs.p99Ms)}`);
  ctx.report.fact('1. storm', 'open p50/p99 ms', `${Math.round(opens.p50Ms)}/${Math.round(opens.p99Ms)}`);
  ctx.report.fact('1. storm', 'all credited', credited);
  ctx.report.fact('1. storm', 'credit lag p99 ms', Math.round(lag.p99Ms));
  ctx.report.fact('1. storm', 'signals received', history.signals);
  ctx.report.fact('1. storm', 'history events per credited claim', history.events / Math.max(1, claims));
  ctx.report.fact('1. storm', 'of which after payment', history.creditEvents / Math.max(1, claims));
  return storm;
}

/** The grab endpoint alone, in the storm's shape (100 holds granted, the rest refused at the gate). */
export async function grabOnlyScenario(ctx: BenchContext, clients: number): Promise<Figure> {
  const packetId = await sendStormPacket(ctx, 'grabsender');
  const tokens = await ctx.tokens(ctx.api.secret, stormUserPrefix, clients);
  await ctx.api.http.preconnect(ctx.sizes.stormConcurrency);
  const meter = cpuMeter(ctx);
  const run = await runFlows('API grab alone', clients, ctx.sizes.stormConcurrency, async (i) =>
    outcomeOf(
      'grab',
      await ctx.api.http.post(`/v1/packets/${packetId}/grab`, { headers: bearer(tokens[i] as string) }),
      { 200: 'granted', 409: 'refused' },
      1,
    ),
  );
  return ctx.report.add(
    meter(
      figure({
        id: 's1.grab',
        label: '1b. grab endpoint alone, storm shape, full API',
        unit: 'requests',
        count: run.count,
        durationMs: run.durationMs,
        latencies: run.latenciesMs,
        errors: run.errors,
        notes: [`granted ${run.outcomes['granted'] ?? 0}`, ...run.errorExamples],
      }),
    ),
  );
}
