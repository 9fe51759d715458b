/**
 * Scenario 1, the hot packet storm: N clients grab-then-open one 100-share packet through the full API
 * (auth, validation, rate limits, idempotency layer, metrics). Then the grab endpoint alone in the same
 * storm shape, against the bare Express + Redis reference.
 */
import { cpuMeter, type BenchContext } from '../context';
import { claimCount, creditTimes, historyTotals, waitForCredits } from '../credits';
import { userIds, type ServiceApi } from '../fixtures';
import { outcomeOf, postAdmitted, runFlows, slowestByTime, type FlowResult, type FlowRun } from '../flows';
import { CpuTimeline, formatCores } from '../cpuTimeline';
import { bearer, type HttpClient } from '../http';
import { STORM_SHARES } from '../options';
import { parseBuckets, quantileBoundMs, scrapeMetrics } from '../serverLatency';
import { stormUserPrefix } from '../references/httpStorms';
import { figure, summarize, type Figure } from '../stats';
import type { Service } from '../world';

const STORM_TOTAL_FEN = 20_000;
const GRAB_ROUTE = '/v1/packets/:id/grab';
const CREDIT_WAIT_MS = 60_000;

/**
 * One client: grab; when granted, open. A refusal at the gate is an expected answer, not an error. A shed
 * grab or open is waited out and tried again (`postAdmitted`), as a user taps again; the wait is in the
 * flow's latency.
 */
export async function grabThenOpen(http: HttpClient, packetId: string, token: string): Promise<FlowResult> {
  const headers = bearer(token);
  const grabStartedMs = performance.now();
  const grab = await postAdmitted(http, `/v1/packets/${packetId}/grab`, { headers });
  const grabMs = performance.now() - grabStartedMs;
  const grabRequests = 1 + grab.shedRetries;
  if (grab.answer.status !== 200)
    return {
      ...outcomeOf('grab', grab.answer, { 409: 'refused' }, grabRequests),
      steps: { grab: grabMs },
      shedRetries: grab.shedRetries,
    };
  const open = await postAdmitted(http, `/v1/packets/${packetId}/open`, { headers });
  const openMs = performance.now() - grabStartedMs - grabMs;
  return {
    ...outcomeOf('open', open.answer, { 200: 'opened' }, grabRequests + 1 + open.shedRetries),
    steps: { grab: grabMs, open: openMs },
    shedRetries: grab.shedRetries + open.shedRetries,
  };
}

/** Funds sender `${senderPrefix}0` and sends one 100-share packet from it. */
export async function sendStormPacket(ctx: BenchContext, senderPrefix: string): Promise<string> {
  const [senderId] = userIds(senderPrefix, 1);
  await ctx.api.fund(senderId as string, STORM_TOTAL_FEN);
  const [token] = await ctx.tokens(ctx.api.secret, senderPrefix, 1);
  return ctx.api.send(token as string, { type: 'random', amountFen: STORM_TOTAL_FEN, count: STORM_SHARES });
}

/** Where a storm runs: the bench's single-cell service by default, or one cell of the two-cell phase. */
export interface StormTarget {
  api: ServiceApi;
  service: Pick<Service, 'url' | 'db' | 'config'>;
  /** Sends the storm's packet (from a sender homed where the target is, for a cell). */
  sendPacket(tag: string): Promise<string>;
}

export function defaultStormTarget(ctx: BenchContext): StormTarget {
  return {
    api: ctx.api,
    service: ctx.world.service,
    sendPacket: (tag) => sendStormPacket(ctx, `stormsender${tag}`),
  };
}

export async function apiStorm(
  ctx: BenchContext,
  tag: string,
  clients: number,
  target: StormTarget = defaultStormTarget(ctx),
  cpu?: CpuTimeline,
) {
  const { api, service } = target;
  const packetId = await target.sendPacket(tag);
  const tokens = await ctx.tokens(api.secret, stormUserPrefix, clients);
  await api.http.preconnect(ctx.sizes.stormConcurrency);
  const metricsBefore = await scrapeMetrics(service);
  const meter = cpuMeter(ctx);
  cpu?.start();
  const run = await runFlows(`API grab-then-open (${tag})`, clients, ctx.sizes.stormConcurrency, (i) =>
    grabThenOpen(api.http, packetId, tokens[i] as string),
  );
  cpu?.stop();
  const claims = await claimCount(service.db, [packetId]);
  const credited = await waitForCredits(service.db, [packetId], CREDIT_WAIT_MS);
  meter.stop();
  const metricsAfter = await scrapeMetrics(service);
  return { run, packetId, claims, credited, meter, metricsBefore, metricsAfter };
}

export async function stormScenario(ctx: BenchContext, clients: number): Promise<Figure> {
  const cpu = new CpuTimeline(ctx.world.procs.processes());
  const { run, packetId, claims, credited, meter, metricsBefore, metricsAfter } = await apiStorm(
    ctx,
    'storm',
    clients,
    defaultStormTarget(ctx),
    cpu,
  );
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
  // The storm's p99 is set by the slowest refused grabs (the 100 winners, grab plus open, are the slowest 1 %).
  const slowRefused = Math.ceil(run.count / 100);
  ctx.report.fact(
    '1. storm',
    `slowest ${slowRefused} refused grabs, by tenth of the run they started in`,
    slowestByTime(run, 'refused', slowRefused).join(' '),
  );
  stallFacts(ctx, run, cpu, slowRefused);
  const refused = run.timeline.filter((flow) => flow.outcome === 'refused').map((flow) => flow.latencyMs);
  const refusedSummary = summarize(refused);
  ctx.report.fact(
    '1. storm',
    'refused grab p50/p99/max ms',
    `${Math.round(refusedSummary.p50Ms)}/${Math.round(refusedSummary.p99Ms)}/${Math.round(refusedSummary.maxMs)}`,
  );
  if (metricsBefore !== undefined && metricsAfter !== undefined) {
    // The API's own histogram of the refused grabs (409): how long the server took, without the client's
    // side of loopback. Bucket bounds, so "<= 25 ms" means the quantile fell in the bucket ending there.
    const before = parseBuckets(metricsBefore, GRAB_ROUTE, '4xx');
    const after = parseBuckets(metricsAfter, GRAB_ROUTE, '4xx');
    const bound = (q: number) => quantileBoundMs(before, after, q);
    ctx.report.fact(
      '1. storm',
      'refused grab p50/p99 in the API (histogram bucket bound) ms',
      `<= ${bound(0.5) ?? '?'} / <= ${bound(0.99) ?? '?'}`,
    );
  }
  ctx.report.fact('1. storm', 'all credited', credited);
  ctx.report.fact('1. storm', 'credit lag p99 ms', Math.round(lag.p99Ms));
  ctx.report.fact('1. storm', 'signals received', history.signals);
  ctx.report.fact('1. storm', 'history events per credited claim', history.events / Math.max(1, claims));
  ctx.report.fact('1. storm', 'of which after payment', history.creditEvents / Math.max(1, claims));
  return storm;
}

/**
 * What the machine did while the slowest refused grabs waited (from the first of them starting to the last
 * answered), next to the whole run: a process busier in that window than over the run is what they waited on.
 */
function stallFacts(ctx: BenchContext, run: FlowRun, cpu: CpuTimeline, slowest: number): void {
  const slow = run.timeline
    .filter((flow) => flow.outcome === 'refused')
    .sort((a, b) => b.latencyMs - a.latencyMs)
    .slice(0, slowest);
  if (slow.length === 0) return;
  const fromMs = Math.min(...slow.map((flow) => flow.startMs));
  const toMs = Math.max(...slow.map((flow) => flow.startMs + flow.latencyMs));
  const window = cpu.coresBetween(run.startedAtMs + fromMs, run.startedAtMs + toMs);
  const whole = cpu.coresBetween(run.startedAtMs, run.startedAtMs + run.durationMs);
  ctx.report.fact(
    '1. storm',
    `cores busy while the slowest refused grabs waited (${Math.round(fromMs)}-${Math.round(toMs)} ms into the run)`,
    formatCores(window),
  );
  ctx.report.fact('1. storm', 'cores busy over the whole run', formatCores(whole));
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
