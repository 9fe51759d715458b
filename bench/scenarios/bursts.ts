/**
 * Scenario 2, group bursts with credits: P packets of 100 shares, each grabbed and opened by its own crowd
 * of 100 at once (the crowds in packet order, so a few bursts overlap at the given concurrency). Measures
 * opens per second, credit lag (open to credited) from Postgres, the backlog 1 s after the last open, and
 * from Temporal the signals each open cost and the history events per credited claim.
 */
import { cpuMeter, type BenchContext } from '../context';
import {
  batchSizes,
  claimCount,
  creditTimes,
  historyTotals,
  uncreditedCount,
  waitForCredits,
} from '../credits';
import { userIds } from '../fixtures';
import { runFlows } from '../flows';
import { SHARES_PER_BURST_PACKET } from '../options';
import { sleep } from '../progress';
import { figure, summarize, type Figure } from '../stats';
import { grabThenOpen } from './storm';

const PACKET_FEN = 10_000;
/** Issue 14: no backlog 1 s after the last open. */
const BACKLOG_AFTER_MS = 1_000;
const CREDIT_WAIT_MS = 120_000;

export interface BurstResult {
  opens: Figure;
  lag: Figure;
  signalsPerOpen: number;
  eventsPerClaim: number;
  backlogAfter1s: number;
}

export async function burstScenario(ctx: BenchContext): Promise<BurstResult> {
  const packets = ctx.sizes.burstPackets;
  const flows = packets * SHARES_PER_BURST_PACKET;
  const db = ctx.world.service.db;
  await ctx.api.fundAll(userIds('burstsender', 1), packets * PACKET_FEN);
  const senderTokens = await ctx.tokens(ctx.api.secret, 'burstsender', 1);
  const packetIds = await ctx.api.sendMany(
    senderTokens,
    { type: 'random', amountFen: PACKET_FEN, count: SHARES_PER_BURST_PACKET },
    packets,
  );
  const tokens = await ctx.tokens(ctx.api.secret, 'bu', flows);
  const signalsBefore = await ctx.api.signalsSent();

  await ctx.api.http.preconnect(ctx.sizes.burstConcurrency);
  const meter = cpuMeter(ctx);
  // Crowd order: flows 0-99 open packet 0, 100-199 packet 1, ... User j of every crowd is the same user.
  const run = await runFlows(`${packets} bursts of 100 opens`, flows, ctx.sizes.burstConcurrency, (i) =>
    grabThenOpen(
      ctx.api.http,
      packetIds[Math.floor(i / SHARES_PER_BURST_PACKET)] as string,
      tokens[i % SHARES_PER_BURST_PACKET] as string,
    ),
  );
  await sleep(Math.max(0, run.lastDoneMs + BACKLOG_AFTER_MS - Date.now()));
  const backlogAfter1s = await uncreditedCount(db, packetIds);
  const allCredited = await waitForCredits(db, packetIds, CREDIT_WAIT_MS);
  meter.stop(); // opens and their credits; reading the histories below is the bench's own work
  const credits = await creditTimes(db, packetIds);
  const claims = await claimCount(db, packetIds);
  const history = await historyTotals(ctx.world.service.temporal, packetIds, CREDIT_WAIT_MS);
  const signalsAfter = await ctx.api.signalsSent();
  const opened = run.outcomes['opened'] ?? 0;

  const opens = ctx.report.add(
    meter(
      figure({
        id: 's2.bursts',
        label: `2. group bursts: ${packets} x 100 grab-then-open, full API`,
        unit: 'opens',
        count: opened,
        durationMs: run.durationMs,
        latencies: run.latenciesMs,
        errors: run.errors,
        notes: [
          `${run.count} flows, ${run.requests} HTTP requests (${run.shedRetries} after a shed answer); CPU includes the credits`,
          ...run.errorExamples,
        ],
      }),
    ),
  );
  const lag = ctx.report.add(
    figure({
      id: 's2.credit',
      label: '2. credit lag, open to credited (latency columns), credits per s',
      unit: 'credits',
      count: credits.lagsMs.length,
      durationMs: credits.spanMs,
      latencies: credits.lagsMs,
      errors: credits.uncredited,
      notes: allCredited
        ? []
        : [`${credits.uncredited} claims still uncredited after ${CREDIT_WAIT_MS / 1000} s`],
    }),
  );
  const signalsPerOpen = history.signals / Math.max(1, opened);
  const eventsPerClaim = history.events / Math.max(1, credits.lagsMs.length);
  const fact = (key: string, value: number | string | boolean) =>
    ctx.report.fact('2. group bursts', key, value);
  const openLatency = summarize(run.stepLatenciesMs['open'] ?? []);
  fact('open request p50/p99 ms', `${Math.round(openLatency.p50Ms)}/${Math.round(openLatency.p99Ms)}`);
  fact('claims', claims);
  fact('backlog 1 s after the last open', backlogAfter1s);
  const batches = await batchSizes(db, packetIds);
  fact('credit batches', batches.batches);
  fact('claims per batch, mean/max', `${batches.meanClaims.toFixed(1)}/${batches.maxClaims}`);
  fact('credit lag p99 ms', Math.round(summarize(credits.lagsMs).p99Ms));
  fact('signals received per open (histories)', signalsPerOpen);
  fact(
    'signals sent per open (API metric)',
    signalsBefore === undefined || signalsAfter === undefined
      ? 'not reported'
      : (signalsAfter - signalsBefore) / Math.max(1, opened),
  );
  fact('credit activities per packet', history.activities / Math.max(1, packets));
  fact('history events per credited claim', eventsPerClaim);
  fact('of which after payment', history.creditEvents / Math.max(1, credits.lagsMs.length));
  fact('workflows completed', `${history.completed}/${history.workflows}`);
  return { opens, lag, signalsPerOpen, eventsPerClaim, backlogAfter1s };
}
