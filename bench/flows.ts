/**
 * Runs client flows (one grab, a grab then an open, a send...) under a load shape and keeps what the report
 * needs: per-flow latency, outcome counts, errors with a few examples, and when the last flow finished.
 */
import type { HttpAnswer, HttpClient, RequestOptions } from './http';
import { closedLoop, openLoop } from './load';
import { progress } from './progress';

/** `outcome` starting with "error" counts as an error; anything else is an expected answer. */
export interface FlowResult {
  outcome: string;
  /** HTTP requests (or calls) the flow made. */
  requests: number;
  /** For errors: the status and the start of the body, kept for the first few. */
  detail?: string;
  /** Latency of the flow's steps (e.g. grab, open), ms, when the flow measures them. */
  steps?: Record<string, number>;
  /** Shed answers (503 overloaded) the flow waited out and retried (`postAdmitted`). */
  shedRetries?: number;
}

export interface FlowRun {
  count: number;
  durationMs: number;
  latenciesMs: number[];
  /** Latencies of named steps across flows (a grab-then-open flow's grabs and opens). */
  stepLatenciesMs: Record<string, number[]>;
  outcomes: Record<string, number>;
  errors: number;
  errorExamples: string[];
  requests: number;
  /** performance.now() when the run began: `timeline` start times count from it. */
  startedAtMs: number;
  /** Wall clock (ms) when the last flow ended. */
  lastDoneMs: number;
  /** Closed loop only: each flow's start (ms after the run began), latency and outcome, in completion order. */
  timeline: { startMs: number; latencyMs: number; outcome: string }[];
  /** Open loop only: flows started late (the generator or the in-flight bound could not keep the rate). */
  late?: number;
  /** Shed answers the flows waited out and retried. */
  shedRetries: number;
}

const ERROR_EXAMPLES_KEPT = 5;

/** A run of `count` flows before any has finished. */
export function emptyFlowRun(count: number): FlowRun {
  return {
    count,
    durationMs: 0,
    latenciesMs: [],
    stepLatenciesMs: {},
    outcomes: {},
    errors: 0,
    errorExamples: [],
    requests: 0,
    startedAtMs: performance.now(),
    lastDoneMs: 0,
    timeline: [],
    shedRetries: 0,
  };
}

function collector(count: number) {
  const run = emptyFlowRun(count);
  const record = (result: FlowResult, latencyMs: number) => {
    run.latenciesMs.push(latencyMs);
    for (const [step, ms] of Object.entries(result.steps ?? {})) (run.stepLatenciesMs[step] ??= []).push(ms);
    run.outcomes[result.outcome] = (run.outcomes[result.outcome] ?? 0) + 1;
    run.requests += result.requests;
    run.shedRetries += result.shedRetries ?? 0;
    run.lastDoneMs = Date.now();
    if (result.outcome.startsWith('error')) {
      run.errors++;
      if (run.errorExamples.length < ERROR_EXAMPLES_KEPT)
        run.errorExamples.push(`${result.outcome}${result.detail ? `: ${result.detail}` : ''}`);
    }
  };
  return { run, record };
}

/** `concurrency` clients, each starting its next flow when the last one finished. */
export async function runFlows(
  label: string,
  count: number,
  concurrency: number,
  flow: (index: number) => Promise<FlowResult>,
): Promise<FlowRun> {
  const { run, record } = collector(count);
  const bar = progress(label, count);
  const runStartedMs = performance.now();
  run.startedAtMs = runStartedMs;
  const loop = await closedLoop(
    count,
    concurrency,
    async (index) => {
      const startedMs = performance.now();
      const result = await flow(index);
      const latencyMs = performance.now() - startedMs;
      record(result, latencyMs);
      run.timeline.push({ startMs: startedMs - runStartedMs, latencyMs, outcome: result.outcome });
    },
    bar,
  );
  run.durationMs = loop.durationMs;
  bar.done(summaryOf(run));
  return run;
}

/** Flows started at a steady rate; latency counts from each flow's scheduled start. */
export async function runScheduledFlows(
  label: string,
  count: number,
  ratePerSecond: number,
  maxInFlight: number,
  flow: (index: number) => Promise<FlowResult>,
): Promise<FlowRun> {
  const { run, record } = collector(count);
  const bar = progress(label, count);
  const loop = await openLoop(
    count,
    ratePerSecond,
    maxInFlight,
    async (index, scheduledMs) => {
      const result = await flow(index);
      record(result, Date.now() - scheduledMs);
    },
    bar,
  );
  run.durationMs = loop.durationMs;
  run.late = loop.late;
  bar.done(summaryOf(run));
  return run;
}

function summaryOf(run: FlowRun): string {
  const rate = run.durationMs > 0 ? Math.round((run.count * 1000) / run.durationMs) : 0;
  const outcomes = Object.entries(run.outcomes)
    .map(([outcome, n]) => `${outcome} ${n}`)
    .join(', ');
  const retried = run.shedRetries > 0 ? `; ${run.shedRetries} shed answers waited out and retried` : '';
  return `${run.count} in ${(run.durationMs / 1000).toFixed(1)} s (${rate}/s): ${outcomes}${retried}`;
}

const isShed = (answer: { status: number; body: string }): boolean =>
  answer.status === 503 && answer.body.includes('"code":"overloaded"');

/**
 * A shed client's pause before it tries again: what honouring `Retry-After` looks like, shortened (the API
 * says 1 s) so a scenario measures what the service serves, not the clients' patience. The overload curve's
 * closed loop pauses as long (bench/overload/curve.ts).
 */
export const SHED_RETRY_PAUSE_MS = 50;
/** A flow gives up after this many shed answers in a row, and reports the last one. */
const SHED_RETRIES_MAX = 200;

/**
 * POSTs as a client of the shipped configuration does: a shed answer (503 overloaded: nothing was done, see
 * docs/overload.md) is waited out and the same request sent again (a send keeps its Idempotency-Key). The
 * scenarios that measure throughput use it; without it a closed loop at capacity spins through shed answers
 * and its count of what was served depends on how fast the API refuses.
 */
export async function postAdmitted(
  http: HttpClient,
  path: string,
  options?: RequestOptions,
): Promise<{ answer: HttpAnswer; shedRetries: number }> {
  let answer = await http.post(path, options);
  let shedRetries = 0;
  while (isShed(answer) && shedRetries < SHED_RETRIES_MAX) {
    shedRetries++;
    await new Promise((resolve) => setTimeout(resolve, SHED_RETRY_PAUSE_MS));
    answer = await http.post(path, options);
  }
  return { answer, shedRetries };
}

/**
 * Maps an HTTP answer to a flow result: `expected` statuses name their outcome, anything else is an error,
 * except load shedding's 503 `overloaded` (docs/overload.md), which the shipped configuration answers when
 * the API's event loop runs late: outcome `shed <step>`, an expected answer, counted apart.
 */
export function outcomeOf(
  step: string,
  answer: { status: number; body: string; error?: string },
  expected: Record<number, string>,
  requests: number,
): FlowResult {
  const outcome = expected[answer.status];
  if (outcome) return { outcome, requests };
  if (isShed(answer)) return { outcome: `shed ${step}`, requests };
  return {
    outcome: `error ${step} ${answer.status || 'network'}`,
    requests,
    detail: answer.error ?? answer.body.slice(0, 160),
  };
}

/**
 * Where in a run its slowest flows started: the run cut into `parts` equal spans of time, and how many of the
 * `slowest` flows with outcome `outcome` began in each. A tail made by one stall shows as one busy span; a
 * tail spread evenly is queueing, not an event.
 */
export function slowestByTime(run: FlowRun, outcome: string, slowest: number, parts = 10): number[] {
  const flows = run.timeline.filter((flow) => flow.outcome === outcome);
  const cut = [...flows].sort((a, b) => b.latencyMs - a.latencyMs).slice(0, slowest);
  const spanMs = Math.max(1, run.durationMs) / parts;
  const counts = new Array<number>(parts).fill(0);
  for (const flow of cut) counts[Math.min(parts - 1, Math.floor(flow.startMs / spanMs))]! += 1;
  return counts;
}
