/**
 * `npm run bench -- --only overload` (issue 32, docs/overload.md): for each flow (storm, spread opens,
 * sends) it first measures the capacity in this run, the correct answers per second of a closed loop, then
 * drives the flow open-loop at each step's share of it (OVERLOAD_STEPS), latency from intended start. The
 * 200 % step goes on at 50 % for a while to time the recovery, and is judged (checks.ts). A step waits for the
 * service to be idle first, so none pays for its predecessor's backlog.
 */
import { configOf } from '../env';
import { SHED_RETRY_PAUSE_MS } from '../flows';
import { quiesce, type BenchContext } from '../context';
import { HttpClient } from '../http';
import { log, sleep } from '../progress';
import { residentMb } from '../procstats';
import { figure } from '../stats';
import { judgeOverload, RECOVERY_WINDOW_MS, recoveryOf } from './checks';
import { curveFlows, type CurveFlow, type CurveFlowName, type PreparedFlow } from './flows';
import { runOpenLoad, segmentFigures, windowP99s, type Segment } from './openLoad';
import type { CurveReport, CurveStep } from './render';

/** Offered load, % of capacity. 80 is the latency goal; the others are the curve. */
export const OVERLOAD_STEPS = [25, 50, 75, 80, 90, 100, 125, 150, 200] as const;
const OVERLOAD_PERCENT = 200;
const RECOVERY_PERCENT = 50;
/** How late a correct answer may be and still count as goodput, per flow. A send pays through Temporal. */
const DEADLINE_MS: Record<CurveFlowName, number> = { storm: 1_000, spread: 1_000, send: 2_000 };
/** The open loop's safety cap on flows in flight, and the connections opened before each run. */
const MAX_IN_FLIGHT = 4_000;
const CONNECTIONS: Record<CurveFlowName, number> = { storm: 1_000, spread: 1_000, send: 200 };
/** A ceiling on each capacity run's work, prepared up front (packets sent, wallets funded). */
const CAPACITY_CEILING_PER_SECOND: Record<CurveFlowName, number> = {
  storm: 30_000,
  spread: 5_000,
  send: 1_000,
};
const RSS_SAMPLE_MS = 250;

/** Correct answers per second of `clients` closed-loop clients over `seconds`. */
async function measureCapacity(ctx: BenchContext, flow: CurveFlow, seconds: number) {
  const ceiling = Math.ceil(CAPACITY_CEILING_PER_SECOND[flow.name] * seconds);
  const prepared = await flow.prepare(ceiling);
  await quiesce(ctx, `${flow.name} capacity`);
  const startedMs = performance.now();
  const endMs = startedMs + seconds * 1000;
  let next = 0;
  const tally = { good: 0, shed: 0, bad: 0 };
  const client = async () => {
    while (performance.now() < endMs && next < ceiling) {
      const answer = await prepared.run(next++);
      tally[answer.kind]++;
      // A shed client pauses before its next flow (as the scenarios' clients do): spinning on shed answers
      // measured how fast the API refuses, not what it serves, and ran through the prepared sends in a second.
      if (answer.kind === 'shed') await sleep(SHED_RETRY_PAUSE_MS);
    }
  };
  await Promise.all(Array.from({ length: flow.capacityClients }, client));
  const elapsedMs = performance.now() - startedMs;
  const perSecond = (tally.good * 1000) / elapsedMs;
  const exhausted = next >= ceiling ? `; its ${ceiling} prepared flows ran out, so this is a floor` : '';
  log(`${flow.name}: capacity ${Math.round(perSecond)}/s (${JSON.stringify(tally)})${exhausted}`);
  ctx.report.add(
    figure({
      id: `s7.${flow.name}`,
      label: `7. overload: ${flow.name} capacity, correct answers closed-loop (${flow.capacityClients} clients)`,
      unit: flow.unit,
      count: tally.good,
      durationMs: elapsedMs,
      errors: tally.bad,
      notes: [`${tally.shed} shed`],
    }),
  );
  return {
    perSecond,
    note: `${flow.capacityClients} clients closed-loop for ${seconds} s: ${tally.good} correct, ${tally.shed} shed, ${tally.bad} bad${exhausted}`,
  };
}

/** Samples the API's resident set while `during` runs; the peak, MB (undefined with --url). */
async function withRssPeak<T>(ctx: BenchContext, during: () => Promise<T>): Promise<[T, number | undefined]> {
  const pid = ctx.world.service.api?.pid;
  if (pid === undefined) return [await during(), undefined];
  let peakMb = residentMb(pid) ?? 0;
  const timer = setInterval(() => (peakMb = Math.max(peakMb, residentMb(pid) ?? 0)), RSS_SAMPLE_MS);
  try {
    return [await during(), peakMb];
  } finally {
    clearInterval(timer);
  }
}

async function runStep(
  ctx: BenchContext,
  http: HttpClient,
  flow: CurveFlow,
  curve: CurveReport,
  percent: number,
): Promise<{
  prepared: PreparedFlow;
  step: CurveStep;
  peakRssMb: number | undefined;
  recoveryP99s?: number[];
}> {
  const { overloadStepSeconds, overloadRecoverySeconds } = ctx.sizes;
  const rate = Math.max(1, (curve.capacityPerSecond * percent) / 100);
  const segments: Segment[] = [{ ratePerSecond: rate, durationMs: overloadStepSeconds * 1000 }];
  const withRecovery = percent === OVERLOAD_PERCENT;
  if (withRecovery)
    segments.push({
      ratePerSecond: Math.max(1, (curve.capacityPerSecond * RECOVERY_PERCENT) / 100),
      durationMs: overloadRecoverySeconds * 1000,
    });
  const count = segments.reduce((sum, s) => sum + Math.ceil((s.ratePerSecond * s.durationMs) / 1000), 0);
  const prepared = await flow.prepare(count);
  await quiesce(ctx, `${flow.name} ${percent} %`);
  await http.preconnect(CONNECTIONS[flow.name]);
  const [run, peakRssMb] = await withRssPeak(ctx, () =>
    runOpenLoad({
      label: `${flow.name} at ${percent} % (${Math.round(rate)}/s)`,
      segments,
      deadlineMs: curve.deadlineMs,
      maxInFlight: MAX_IN_FLIGHT,
      flow: (i) => prepared.run(i),
    }),
  );
  const step: CurveStep = { percent, ...segmentFigures(run, 0) };
  if (run.startedLate > 0)
    log(`${flow.name} ${percent} %: ${run.startedLate} flows started over 10 ms late (the generator lagged)`);
  for (const example of run.examples) log(`  ${example}`);
  const recoveryP99s = withRecovery ? windowP99s(run, 1, RECOVERY_WINDOW_MS) : undefined;
  return { prepared, step, peakRssMb, ...(recoveryP99s ? { recoveryP99s } : {}) };
}

async function curveOf(ctx: BenchContext, http: HttpClient, flow: CurveFlow, sendDeadlineMs: number) {
  const capacity = await measureCapacity(ctx, flow, ctx.sizes.overloadCapacitySeconds);
  const maxRate = ctx.sizes.overloadMaxRate;
  const capped = maxRate !== undefined && capacity.perSecond > maxRate;
  const curve: CurveReport = {
    flow: flow.name,
    label: flow.label,
    unit: flow.unit,
    capacityPerSecond: capped ? maxRate : capacity.perSecond,
    capacityNote: capped ? `${capacity.note}; capped at ${maxRate}/s by --max-rate` : capacity.note,
    deadlineMs: DEADLINE_MS[flow.name],
    steps: [],
  };
  ctx.report.data.curves.push(curve);
  if (curve.capacityPerSecond <= 0) return ctx.report.note(`overload ${flow.name}: no capacity measured`);
  for (const percent of ctx.sizes.overloadSteps) {
    const outcome = await runStep(ctx, http, flow, curve, percent);
    curve.steps.push(outcome.step);
    log(
      `${flow.name} ${percent} %: goodput ${Math.round(outcome.step.goodputPerSecond)}/s, p99 ` +
        `${Math.round(outcome.step.p99Ms)} ms, shed ${outcome.step.shed}, failed ${outcome.step.failed}`,
    );
    if (percent !== OVERLOAD_PERCENT) continue;
    const reference = curve.steps.find((s) => s.percent === RECOVERY_PERCENT);
    if (outcome.recoveryP99s && reference) curve.recovery = recoveryOf(outcome.recoveryP99s, reference.p99Ms);
    await judgeOverload(ctx, {
      curve,
      name: flow.name,
      figures: outcome.step,
      facts: outcome.prepared.facts,
      apiPeakRssMb: outcome.peakRssMb,
      sendDeadlineMs,
    });
  }
}

export async function overloadPhase(ctx: BenchContext): Promise<void> {
  const http = new HttpClient(ctx.world.service.url, MAX_IN_FLIGHT);
  // The API's own settings, as it runs them (compose's environment), for the send deadline it applies.
  const apiEnv = ctx.world.service.configuration.env ?? {};
  const sendDeadlineMs = configOf({ ...apiEnv, AUTH_SECRET: 'bench-reads-settings-only' }).overload
    .sendDeadlineMs;
  try {
    const flows = curveFlows(ctx, http);
    for (const name of ctx.sizes.overloadFlows) await curveOf(ctx, http, flows[name], sendDeadlineMs);
  } finally {
    http.close();
  }
}
