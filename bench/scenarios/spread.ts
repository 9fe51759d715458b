/**
 * Scenario 3, spread opens with credits: per rate step, P fresh packets of 10 shares opened round robin
 * (each packet's opens far apart, so coalescing saves little) at a steady rate for at most a bounded time,
 * latency counted from each flow's scheduled start. A step passes when every open succeeds, the rate was held, every claim was
 * credited and the credit lag p99 stayed under 500 ms (issue 14). Steps are rising fractions of the raw signal rate to
 * as many workflows (the reference).
 */
import { quiesce, type BenchContext } from '../context';
import { creditTimes, historyTotals, waitForCredits } from '../credits';
import { userIds } from '../fixtures';
import { runScheduledFlows, type FlowRun } from '../flows';
import { SHARES_PER_SPREAD_PACKET } from '../options';
import { log } from '../progress';
import type { SpreadStep } from '../report';
import { figure, summarize, type Figure } from '../stats';
import { grabThenOpen } from './storm';

const PACKET_FEN = 1_000;
const SENDERS = 10;
export const LAG_P99_LIMIT_MS = 500;
const HELD_RATE_FRACTION = 0.9;
const MAX_IN_FLIGHT = 2_000;
const CREDIT_WAIT_MS = 60_000;
/** Credits are complete when histories are read; this only lets fully opened packets' workflows finish. */
const HISTORY_WAIT_MS = 2_000;
const MIN_RATE = 5;
const DOWN_STEPS = 2;

async function runStep(
  ctx: BenchContext,
  step: number,
  targetPerSecond: number,
): Promise<{ step: SpreadStep; run: FlowRun }> {
  const packets = ctx.sizes.spreadPackets;
  const senderPrefix = `spreadsender${step}x`;
  await ctx.api.fundAll(userIds(senderPrefix, SENDERS), Math.ceil(packets / SENDERS) * PACKET_FEN);
  const senderTokens = await ctx.tokens(ctx.api.secret, senderPrefix, SENDERS);
  log(`step ${step + 1}: sending ${packets} packets`);
  const packetIds = await ctx.api.sendMany(
    senderTokens,
    { type: 'random', amountFen: PACKET_FEN, count: SHARES_PER_SPREAD_PACKET },
    packets,
  );
  const tokens = await ctx.tokens(ctx.api.secret, 'sp', SHARES_PER_SPREAD_PACKET);
  // A step lasts at most spreadStepSeconds: at low rates only the first shares of each packet are opened.
  const flows = Math.min(
    packets * SHARES_PER_SPREAD_PACKET,
    Math.round(targetPerSecond * ctx.sizes.spreadStepSeconds),
  );
  await quiesce(ctx, `step ${step + 1}`);
  const mark = ctx.world.procs.cpuMark();
  const run = await runScheduledFlows(
    `step ${step + 1}: ${targetPerSecond} opens/s`,
    flows,
    targetPerSecond,
    MAX_IN_FLIGHT,
    (i) =>
      grabThenOpen(ctx.api.http, packetIds[i % packets] as string, tokens[Math.floor(i / packets)] as string),
  );
  const db = ctx.world.service.db;
  await waitForCredits(db, packetIds, CREDIT_WAIT_MS);
  const cpuSeconds = ctx.world.procs.cpuSince(mark);
  const credits = creditTimes(db, packetIds);
  const history = await historyTotals(ctx.world.service.temporal, packetIds, HISTORY_WAIT_MS);
  const { lagsMs, uncredited } = await credits;
  const lag = summarize(lagsMs);
  const opens = run.outcomes['opened'] ?? 0;
  const achievedPerSecond = (opens * 1000) / run.durationMs;
  const cpuMsPerOpen: Record<string, number> = {};
  for (const [name, seconds] of Object.entries(cpuSeconds))
    cpuMsPerOpen[name] = (seconds * 1000) / Math.max(1, opens);
  const result: SpreadStep = {
    targetPerSecond,
    achievedPerSecond,
    opens,
    errors: run.errors,
    late: run.late ?? 0,
    flowP99Ms: summarize(run.latenciesMs).p99Ms,
    lagP50Ms: lag.p50Ms,
    lagP99Ms: lag.p99Ms,
    lagMaxMs: lag.maxMs,
    uncredited,
    signalsPerOpen: history.signals / Math.max(1, opens),
    eventsPerClaim: history.creditEvents / Math.max(1, lagsMs.length),
    cpuMsPerOpen,
    passed:
      run.errors === 0 &&
      uncredited === 0 &&
      lag.p99Ms < LAG_P99_LIMIT_MS &&
      achievedPerSecond >= HELD_RATE_FRACTION * targetPerSecond,
  };
  log(
    `step ${step + 1}: ${Math.round(achievedPerSecond)}/s achieved, credit lag p99 ${Math.round(lag.p99Ms)} ms, ` +
      `${result.passed ? 'passed' : 'failed'}`,
  );
  return { step: result, run };
}

/**
 * Rising steps until one fails. When even the first fails, halves the rate (at most DOWN_STEPS times) so the
 * report still names a rate this machine sustains.
 */
/**
 * Steps the rate up until a step fails, then tries once halfway between the last passing step and the
 * failing one, for a finer answer. When the first step already fails, steps down instead.
 */
export async function spreadScenario(ctx: BenchContext, reference: Figure | undefined): Promise<Figure> {
  const base = reference?.perSecond ?? 0;
  const targets = ctx.sizes.spreadSteps.map((fraction) => Math.max(MIN_RATE, Math.round(fraction * base)));
  let best: { step: SpreadStep; run: FlowRun } | undefined;
  let first: { step: SpreadStep; run: FlowRun } | undefined;
  let failedAt: number | undefined;
  let index = 0;
  for (let target of targets) {
    for (let lower = 0; ; lower++) {
      const outcome = await runStep(ctx, index++, target);
      first ??= outcome;
      ctx.report.data.spreadSteps.push(outcome.step);
      if (outcome.step.passed) {
        best = outcome;
        break;
      }
      failedAt = target;
      // Even the first step failed: halve it (a few times) so the report still names a sustainable rate.
      if (best || lower >= DOWN_STEPS || target <= MIN_RATE) break;
      target = Math.max(MIN_RATE, Math.round(target / 2));
    }
    if (failedAt !== undefined) break;
  }
  if (ctx.sizes.spreadRefine && best && failedAt !== undefined) {
    const between = Math.round((best.step.targetPerSecond + failedAt) / 2);
    if (between > best.step.targetPerSecond && between < failedAt) {
      const outcome = await runStep(ctx, index, between);
      ctx.report.data.spreadSteps.push(outcome.step);
      if (outcome.step.passed) best = outcome;
    }
  }
  const shown = best ?? first;
  if (!shown) throw new Error('the spread scenario ran no step');
  const result = ctx.report.add(
    figure({
      id: 's3.spread',
      label: `3. spread opens: highest step with credit lag p99 < 500 ms (${ctx.sizes.spreadPackets} x 10 per step)`,
      unit: 'opens',
      count: shown.step.opens,
      durationMs: shown.run.durationMs,
      latencies: shown.run.latenciesMs,
      errors: shown.run.errors,
      notes: [
        best
          ? `credit lag p50 ${Math.round(shown.step.lagP50Ms)} ms, p99 ${Math.round(shown.step.lagP99Ms)} ms at ${shown.step.targetPerSecond}/s`
          : 'no step passed, not even the lowest: the figure is that step',
        ...shown.run.errorExamples,
      ],
    }),
  );
  result.cpuMsPerUnit = shown.step.cpuMsPerOpen;
  return result;
}
