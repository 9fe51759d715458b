/**
 * What the 200 % step must show (issue 32), printed as pass/fail rows of the report's goals, never asserted:
 * goodput against the measured capacity, every request answered within the deadline, shed answers fast, the
 * API's memory, recovery to the 50 % latency after the overload stops, and the money: exactly the claims the
 * opens answered, no packet over its shares, a clean audit; for sends, none left paying in Temporal past its
 * deadline, every answered send paid exactly once, and nothing recorded for a shed one.
 */
import { audit } from '../audit';
import type { BenchContext } from '../context';
import type { FlowFacts } from './flows';
import type { SegmentFigures } from './openLoad';
import type { CurveReport } from './render';

/** Shares of the measured capacity the 200 % step must still serve correctly. */
export const GOODPUT_GOAL = { storm: 0.9, spread: 0.9, send: 0.8 } as const;
const SHED_P99_GOAL_MS = 10;
const RECOVERY_GOAL_S = 5;
/** Recovered: a half second's p99 at most this many times the 50 % step's, or this much above it. */
const RECOVERY_FACTOR = 1.5;
const RECOVERY_SLACK_MS = 20;
export const RECOVERY_WINDOW_MS = 500;
const API_RSS_GOAL_MB = 200;
const PACKET_SHARES = 100;

/** Back means this many half seconds in a row at or under the threshold (fewer if the run ends first). */
const RECOVERED_WINDOWS = 4;
const MIN_RECOVERED_WINDOWS = 2;

/**
 * When the p99 came back: the start of the first two seconds whose half seconds are all under the threshold.
 * Not "the last half second over it": at a send's rate a half second holds a few answers, and one collection
 * an hour later would count as not recovered.
 */
export function recoveryOf(
  windowP99sMs: readonly number[],
  referenceP99Ms: number,
): CurveReport['recovery'] & object {
  const thresholdMs = Math.max(referenceP99Ms * RECOVERY_FACTOR, referenceP99Ms + RECOVERY_SLACK_MS);
  let seconds: number | undefined;
  for (let w = 0; w < windowP99sMs.length && seconds === undefined; w++) {
    const stretch = windowP99sMs.slice(w, w + RECOVERED_WINDOWS);
    if (stretch.length >= MIN_RECOVERED_WINDOWS && stretch.every((p99) => p99 <= thresholdMs))
      seconds = (w * RECOVERY_WINDOW_MS) / 1000;
  }
  return { windowP99sMs: [...windowP99sMs], thresholdMs, seconds };
}

export interface OverloadEvidence {
  curve: CurveReport;
  name: keyof typeof GOODPUT_GOAL;
  figures: SegmentFigures;
  facts: FlowFacts;
  apiPeakRssMb: number | undefined;
  /** The API's send deadline (SEND_DEADLINE_MS). */
  sendDeadlineMs: number;
}

export async function judgeOverload(ctx: BenchContext, evidence: OverloadEvidence): Promise<void> {
  const { curve, name, figures, facts } = evidence;
  const scenario = `7. overload, ${name} at 200 %`;
  const goal = (text: string, measured: string, met: boolean) =>
    ctx.report.goal(scenario, text, measured, met);
  const share = curve.capacityPerSecond > 0 ? figures.goodputPerSecond / curve.capacityPerSecond : 0;
  goal(
    `goodput >= ${GOODPUT_GOAL[name] * 100} % of capacity`,
    `${Math.round(figures.goodputPerSecond)}/s of ${Math.round(curve.capacityPerSecond)}/s (${Math.round(share * 100)} %)`,
    share >= GOODPUT_GOAL[name],
  );
  goal(
    `every request answered (correctly or shed) within ${curve.deadlineMs} ms`,
    `${figures.overDeadline} late or unanswered of ${figures.flows}; max ${Math.round(figures.maxMs)} ms; ${figures.bad} bad answers`,
    figures.overDeadline === 0 && figures.bad === 0,
  );
  goal(
    `shed answers p99 < ${SHED_P99_GOAL_MS} ms from intended start`,
    figures.shed === 0 ? 'none shed' : `${figures.shedP99Ms.toFixed(1)} ms over ${figures.shed} shed answers`,
    figures.shed === 0 || figures.shedP99Ms < SHED_P99_GOAL_MS,
  );
  if (evidence.apiPeakRssMb !== undefined)
    goal(
      `API RSS < ${API_RSS_GOAL_MB} MB`,
      `${evidence.apiPeakRssMb} MB peak sampled`,
      evidence.apiPeakRssMb < API_RSS_GOAL_MB,
    );
  const recovery = curve.recovery;
  if (recovery)
    goal(
      `back to the 50 % p99 (<= ${Math.round(recovery.thresholdMs)} ms) within ${RECOVERY_GOAL_S} s after the overload`,
      recovery.seconds === undefined ? 'not within the run' : `${recovery.seconds.toFixed(1)} s`,
      recovery.seconds !== undefined && recovery.seconds <= RECOVERY_GOAL_S,
    );
  if (name === 'send') await sendChecks(ctx, evidence, goal);
  else await claimChecks(ctx, facts, goal);
  const summary = await audit(ctx.world.service.db, scenario, 'bench');
  ctx.report.data.audits.push(summary);
  goal('audit clean', summary.ok ? 'clean' : `${summary.violations} violations`, summary.ok);
}

type Goal = (text: string, measured: string, met: boolean) => void;

async function claimChecks(ctx: BenchContext, facts: FlowFacts, goal: Goal): Promise<void> {
  const { rows } = await ctx.world.service.db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM claims WHERE packet_id = ANY($1) GROUP BY packet_id',
    [facts.packetIds],
  );
  const claims = rows.reduce((sum, row) => sum + row.n, 0);
  const over = rows.filter((row) => row.n > PACKET_SHARES).length;
  goal(
    'exactly the claims the opens answered, no packet over its shares',
    `${claims} claims, ${facts.opened} opens answered 200, ${over} packets over ${PACKET_SHARES}; ` +
      `${facts.openShed} opens shed after their grab (their holds lapse)`,
    claims === facts.opened && over === 0,
  );
}

async function sendChecks(ctx: BenchContext, evidence: OverloadEvidence, goal: Goal): Promise<void> {
  const { facts, sendDeadlineMs } = evidence;
  const db = ctx.world.service.db;
  const { rows } = await db.query<{ packet_id: string; n: number }>(
    `SELECT packet_id, count(*)::int AS n FROM transfers WHERE kind = 'pay' AND packet_id = ANY($1)
      GROUP BY packet_id`,
    [facts.paidPacketIds],
  );
  const once = rows.filter((row) => row.n === 1).length;
  const distinct = new Set(facts.paidPacketIds).size;
  goal(
    'every answered send paid exactly once',
    `${facts.paidPacketIds.length} answered 201, ${distinct} packets, ${once} with exactly one payment`,
    once === facts.paidPacketIds.length && distinct === facts.paidPacketIds.length,
  );
  const recorded = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM packet_requests WHERE idempotency_key = ANY($1)',
    [facts.shedKeys],
  );
  const shedRecorded = recorded.rows[0]?.n ?? 0;
  goal(
    'a shed send recorded and paid nothing',
    `${facts.shedKeys.length} shed, ${shedRecorded} of their keys recorded; ${facts.unansweredKeys.length} sends answered otherwise`,
    shedRecorded === 0,
  );
  // Give every admitted send its deadline, then ask Temporal for packets still paying after it.
  await new Promise((resolve) => setTimeout(resolve, sendDeadlineMs + 1_000));
  const before = new Date(Date.now() - sendDeadlineMs).toISOString();
  const query = `ExecutionStatus = "Running" AND PacketStatus = "PAYING" AND StartTime < "${before}"`;
  try {
    const { count } = await ctx.world.service.temporal.client.workflow.count(query);
    goal(
      `no send left paying in Temporal past its deadline (${sendDeadlineMs} ms)`,
      `${count} packet workflows still PAYING`,
      count === 0,
    );
  } catch (err) {
    goal('no send left paying in Temporal past its deadline', `not read: ${String(err)}`, false);
  }
}
