/**
 * Open-loop load (issue 32): flows are started on a fixed schedule of intended start times, whatever the
 * answers, as millions of phones do; a closed loop (bench/load.ts closedLoop) waits for each answer before
 * the next request and so hides the queueing a slow server causes (coordinated omission). Latency counts
 * from the INTENDED start, so a flow the generator itself started late pays for it too, and is recorded in
 * HdrHistograms (hdr-histogram-js, microseconds, 3 significant digits).
 *
 * A run is one or more segments at fixed rates played back to back (the latency curve's 200 % step is
 * followed by 50 % to time the recovery). Flows in flight are unbounded up to a safety cap; a flow due while
 * the cap is reached is not sent and counts as failed ("capped"). An answer after the deadline is counted
 * as late: it is never goodput. Everything is bounded: the schedule ends, and each request times out
 * (bench/http.ts).
 */
import * as hdr from 'hdr-histogram-js';
import { progress } from '../progress';

export type AnswerKind = 'good' | 'shed' | 'bad';

/** What one flow got: a correct answer, a shed answer (503 overloaded or packet_busy), or anything else. */
export interface FlowAnswer {
  kind: AnswerKind;
  /** For a bad answer: its status and the start of its body, kept for the first few. */
  detail?: string;
}

export interface Segment {
  ratePerSecond: number;
  durationMs: number;
}

export interface OpenLoadOptions {
  label: string;
  segments: readonly Segment[];
  deadlineMs: number;
  maxInFlight: number;
  flow: (index: number) => Promise<FlowAnswer>;
}

/** Histograms record microseconds up to this (a request times out long before). */
const HIGHEST_US = 120_000_000;
/** The first flow is due this long after the run is set up, so none starts late by construction. */
const LEAD_MS = 20;
const EXAMPLES_KEPT = 5;
const KIND_CODE: Record<AnswerKind, number> = { good: 0, shed: 1, bad: 2 };
/** A flow not sent because the safety cap was reached. */
const CAPPED = 3;

export const newHistogram = (): hdr.Histogram =>
  hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_US,
    numberOfSignificantValueDigits: 3,
    bitBucketSize: 32,
    useWebAssembly: false,
  });

export const recordMs = (histogram: hdr.Histogram, ms: number): void =>
  histogram.recordValue(Math.min(HIGHEST_US, Math.max(1, Math.round(ms * 1000))));

/** Per segment: every answer, correct answers, shed answers, from intended start. */
export interface SegmentHistograms {
  all: hdr.Histogram;
  good: hdr.Histogram;
  shed: hdr.Histogram;
}

export interface OpenLoadRun {
  segments: readonly Segment[];
  /** Flows scheduled (every one is sent or counted as capped). */
  count: number;
  /** Per flow, by index: its segment, intended start (ms after the run's start), latency and kind. */
  segmentOf: Uint8Array;
  intendedMs: Float64Array;
  latencyMs: Float64Array;
  kind: Uint8Array;
  histograms: SegmentHistograms[];
  deadlineMs: number;
  /** Flows whose start was more than 10 ms behind their intended time (the generator could not keep up). */
  startedLate: number;
  examples: string[];
  wallMs: number;
}

export async function runOpenLoad(options: OpenLoadOptions): Promise<OpenLoadRun> {
  const { segments, maxInFlight, flow } = options;
  const counts = segments.map((s) => Math.max(1, Math.floor((s.ratePerSecond * s.durationMs) / 1000)));
  const count = counts.reduce((sum, n) => sum + n, 0);
  const run: OpenLoadRun = {
    segments,
    count,
    segmentOf: new Uint8Array(count),
    intendedMs: new Float64Array(count),
    latencyMs: new Float64Array(count).fill(Number.NaN),
    kind: new Uint8Array(count),
    histograms: segments.map(() => ({ all: newHistogram(), good: newHistogram(), shed: newHistogram() })),
    deadlineMs: options.deadlineMs,
    startedLate: 0,
    examples: [],
    wallMs: 0,
  };
  // The schedule, computed up front: flow i of segment k is due at the segment's start + i / rate.
  let index = 0;
  let segmentStartMs = 0;
  segments.forEach((segment, k) => {
    const intervalMs = 1000 / segment.ratePerSecond;
    for (let i = 0; i < (counts[k] as number); i++, index++) {
      run.segmentOf[index] = k;
      run.intendedMs[index] = segmentStartMs + i * intervalMs;
    }
    segmentStartMs += segment.durationMs;
  });

  const bar = progress(options.label, count);
  const startMs = performance.now() + LEAD_MS;
  let inFlight = 0;
  let drained: (() => void) | undefined;
  const finish = (i: number, answer: FlowAnswer) => {
    const latencyMs = performance.now() - startMs - (run.intendedMs[i] as number);
    run.latencyMs[i] = latencyMs;
    run.kind[i] = KIND_CODE[answer.kind];
    const histograms = run.histograms[run.segmentOf[i] as number] as SegmentHistograms;
    recordMs(histograms.all, latencyMs);
    if (answer.kind === 'good') recordMs(histograms.good, latencyMs);
    else if (answer.kind === 'shed') recordMs(histograms.shed, latencyMs);
    else if (run.examples.length < EXAMPLES_KEPT) run.examples.push(answer.detail ?? 'bad answer');
    bar.add();
    if (--inFlight === 0 && drained) drained();
  };
  const launch = (i: number, nowMs: number) => {
    if (nowMs - startMs - (run.intendedMs[i] as number) > 10) run.startedLate++;
    if (inFlight >= maxInFlight) {
      run.kind[i] = CAPPED;
      bar.add();
      return;
    }
    inFlight++;
    flow(i).then(
      (answer) => finish(i, answer),
      (err: unknown) => finish(i, { kind: 'bad', detail: `flow threw: ${String(err)}` }),
    );
  };

  let next = 0;
  await new Promise<void>((scheduled) => {
    const tick = () => {
      const nowMs = performance.now();
      while (next < count && startMs + (run.intendedMs[next] as number) <= nowMs) launch(next++, nowMs);
      if (next >= count) return scheduled();
      setTimeout(tick, Math.max(0, startMs + (run.intendedMs[next] as number) - performance.now()));
    };
    setTimeout(tick, LEAD_MS);
  });
  if (inFlight > 0) await new Promise<void>((resolve) => (drained = resolve));
  run.wallMs = performance.now() - startMs;
  bar.done(`${count} flows scheduled over ${(segmentStartMs / 1000).toFixed(1)} s`);
  return run;
}

/** What one segment of a run measured. */
export interface SegmentFigures {
  offeredPerSecond: number;
  flows: number;
  /** Correct answers within the deadline, per second of the segment. */
  goodputPerSecond: number;
  good: number;
  /** Correct answers after the deadline (not goodput). */
  goodLate: number;
  shed: number;
  bad: number;
  capped: number;
  /** Answers (of any kind) later than the deadline, and flows never answered (capped). */
  overDeadline: number;
  /** Neither a correct nor a shed answer within the deadline: bad, late or capped. */
  failed: number;
  /** Every answer, from intended start, ms. */
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** Correct answers only. */
  goodP99Ms: number;
  /** Shed answers only. */
  shedP99Ms: number;
  shedMaxMs: number;
}

const msAt = (histogram: hdr.Histogram, percentile: number) =>
  histogram.totalCount > 0 ? histogram.getValueAtPercentile(percentile) / 1000 : 0;

export function segmentFigures(run: OpenLoadRun, segment: number): SegmentFigures {
  const spec = run.segments[segment] as Segment;
  let flows = 0;
  let good = 0;
  let goodLate = 0;
  let shed = 0;
  let bad = 0;
  let capped = 0;
  let overDeadline = 0;
  let shedInTime = 0;
  for (let i = 0; i < run.count; i++) {
    if (run.segmentOf[i] !== segment) continue;
    flows++;
    const kind = run.kind[i];
    if (kind === CAPPED) {
      capped++;
      overDeadline++;
      continue;
    }
    const late = (run.latencyMs[i] as number) > run.deadlineMs;
    if (late) overDeadline++;
    if (kind === KIND_CODE.good) {
      if (late) goodLate++;
      else good++;
    } else if (kind === KIND_CODE.shed) {
      shed++;
      if (!late) shedInTime++;
    } else bad++;
  }
  const { all, good: goodHistogram, shed: shedHistogram } = run.histograms[segment] as SegmentHistograms;
  return {
    offeredPerSecond: spec.ratePerSecond,
    flows,
    goodputPerSecond: (good * 1000) / spec.durationMs,
    good,
    goodLate,
    shed,
    bad,
    capped,
    overDeadline,
    failed: flows - good - shedInTime,
    p50Ms: msAt(all, 50),
    p99Ms: msAt(all, 99),
    p999Ms: msAt(all, 99.9),
    maxMs: all.totalCount > 0 ? all.maxValue / 1000 : 0,
    goodP99Ms: msAt(goodHistogram, 99),
    shedP99Ms: msAt(shedHistogram, 99),
    shedMaxMs: shedHistogram.totalCount > 0 ? shedHistogram.maxValue / 1000 : 0,
  };
}

/**
 * p99 of every answer in consecutive windows of `windowMs` (by intended start) of one segment, from its
 * start: how the latency came back after the segment before it.
 */
export function windowP99s(run: OpenLoadRun, segment: number, windowMs: number): number[] {
  const segmentStartMs = run.segments.slice(0, segment).reduce((sum, s) => sum + s.durationMs, 0);
  const windows: hdr.Histogram[] = [];
  for (let i = 0; i < run.count; i++) {
    if (run.segmentOf[i] !== segment || run.kind[i] === CAPPED) continue;
    const w = Math.floor(((run.intendedMs[i] as number) - segmentStartMs) / windowMs);
    recordMs((windows[w] ??= newHistogram()), run.latencyMs[i] as number);
  }
  return Array.from(windows, (histogram) => (histogram ? msAt(histogram, 99) : 0));
}
