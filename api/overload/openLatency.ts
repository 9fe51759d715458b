/**
 * The second pressure signal (docs/overload.md): how late the opens answer. An open is a Postgres transaction
 * under its packet's row lock, so when Postgres is what runs out (spread opens, each on its own packet, each
 * its own transaction) the opens queue on the pool and in Postgres while this process's event loop stays
 * idle: the lag-driven pressure (pressure.ts) never rises and nothing is shed. The opens' latency, from
 * admission to answer, is that queue's signal.
 *
 * What it refuses: grabs and reads, never opens. A grab admitted now is an open a few milliseconds later, so
 * refusing grabs is what lowers the opens' arrival rate; an open holds a share someone already won, and
 * refusing it would waste the win (and leave the share held until the hold lapses). Admission takes this
 * pressure clamped to 1 (admission.ts), and opens are shed only by the part of the CPU pressure above 1.
 *
 * The estimate: Little's law. The opens in flight are their answer rate times their latency, so the latency
 * an open admitted now will see is the opens in flight over the rate at which they are answered (the answers
 * of the latest ticks, newest first, until ESTIMATE_ANSWERS of them or OPEN_LATENCY_WINDOW_TICKS, 250 ms).
 * Why not the answered opens' own latency (a percentile of the answers): an answer reports the queue as it
 * was when that open was admitted, a whole queue ago, and a controller that steers on it refuses grabs while
 * the queue has already drained and admits them while it is already long. In the model of opens bound by
 * Postgres in test/unit/overloadAdmission.test.ts, a first version that steered on the answers' 90th
 * percentile swung between refusing every grab and none, and at four times the capacity answered 75 % of it
 * in time; steering on the opens in flight answers over 95 % of it at up to eight times, with the median flow
 * near the target (the test holds it to that). The answers still count in two ways: their rate is the
 * estimate's divisor, and only a tick that answered an open slower than the target may raise the pressure
 * (below).
 *
 * Outliers. Fewer than MIN_QUEUED_OPENS opens in flight are no queue, and the pressure falls: a single slow
 * open, or two, never sheds, however slow. Opens that wait together on one packet's row (its expiry holding
 * the row, a hot packet's batch) are many in flight and answer nothing meanwhile; they push nothing either,
 * since a rise needs an answer slower than the target in the tick, and when they answer they are no longer in
 * flight. With no answer at all in the window the rate is taken as one answer in it, so the estimate stays
 * finite (a bound: the opens in flight times the window), and without a late answer the pressure cannot rise:
 * it holds, or falls.
 *
 * The controller: proportional and integral. The error is the estimate's distance to the target in targets,
 * -1..1 (at twice the target 1, with no opens in flight -1). The integral rises by GAIN_PER_SECOND at an
 * error of 1 and settles on the share of grabs whose refusal holds the opens near the target; the
 * proportional part (PROPORTIONAL_GAIN times the error) answers at once and damps it, where the integral
 * alone overshoots by the opens of grabs admitted before it rose. With no opens in flight the pressure falls
 * at once by the proportional part and then with the integral: from refusing every grab to none in 150 ms.
 *
 * What it does not see: a Postgres stalled outright answers nothing, and the pressure only holds. The storm
 * budget (OVERLOAD_STORM_IN_FLIGHT) bounds that case; this signal is for a Postgres that is slow because it
 * is asked too much.
 *
 * `OpenLatencyController` is pure (answers in; each tick its elapsed time and the opens in flight);
 * `startOpenLatencySampler` ticks it from a timer.
 */
import type { PressureSource } from './pressure';

/** How often the pressure moves. */
export const OPEN_LATENCY_TICK_MS = 50;
/** The most ticks the answer rate is taken over: 250 ms. */
export const OPEN_LATENCY_WINDOW_TICKS = 5;
/** The answer rate stops looking back once it has this many answers: short where opens are many. */
export const ESTIMATE_ANSWERS = 20;
/** Fewer opens in flight are no queue, whatever their latency: one or two outliers never shed. */
export const MIN_QUEUED_OPENS = 3;
/** The integral's rise per second at twice the target, and its fall with no opens: 0 to 1 in 250 ms. */
const GAIN_PER_SECOND = 4;
/** The proportional part: half the grabs refused at once at twice the target, none at or below it. */
const PROPORTIONAL_GAIN = 0.5;
/** The most one tick moves the integral, so a tick the loop delayed is not taken for a longer one. */
const MAX_STEP = 0.25;

const clamp = (value: number, low: number, high: number) => Math.min(high, Math.max(low, value));

/** What admission reads (the level) and feeds (each admitted open's latency, admission to answer). */
export interface OpenLatencySignal extends PressureSource {
  observe(latencyMs: number): void;
  /** The last estimate of an open's latency, for metrics and logs. */
  readonly latencyMs: number;
}

/** The signal off (OVERLOAD_OPEN_LATENCY_TARGET_MS=0): never any pressure, answers ignored. */
export const NO_OPEN_LATENCY: OpenLatencySignal = { level: 0, latencyMs: 0, observe: () => undefined };

export class OpenLatencyController implements OpenLatencySignal {
  /** 0..1: the share of grabs and reads refused. */
  level = 0;
  latencyMs = 0;
  /** The integral part of the level. */
  private integral = 0;
  /** Answers and elapsed time per tick, in a ring; `current` is the tick being answered now. */
  private readonly answers = new Uint32Array(OPEN_LATENCY_WINDOW_TICKS);
  private readonly elapsedMs = new Float64Array(OPEN_LATENCY_WINDOW_TICKS);
  private current = 0;
  /** Answers in the ring, so an idle tick knows there is nothing to look at. */
  private ringAnswers = 0;
  /** Answers of the tick now ending that were slower than the target. */
  private slowNow = 0;

  constructor(readonly targetMs: number) {}

  /** One open answered, `latencyMs` after it was admitted. */
  observe(latencyMs: number): void {
    this.answers[this.current]!++;
    this.ringAnswers++;
    if (latencyMs > this.targetMs) this.slowNow++;
  }

  /**
   * The tick's end, `elapsedMs` after the last one, with `opensInFlight` admitted and not answered: moves the
   * pressure and starts the next tick.
   */
  tick(elapsedMs: number, opensInFlight: number): number {
    // Idle (nothing answered in the window, nothing in flight, no pressure left): nothing moves.
    if (this.ringAnswers === 0 && opensInFlight === 0 && this.integral === 0) {
      this.level = 0;
      this.latencyMs = 0;
      return 0;
    }
    this.elapsedMs[this.current] = elapsedMs;
    const error = this.error(opensInFlight);
    // Only a tick that answered slow opens may push the pressure up (opens waiting together push nothing).
    const push = this.slowNow > 0 ? error : Math.min(0, error);
    const step = clamp((GAIN_PER_SECOND * push * elapsedMs) / 1000, -MAX_STEP, MAX_STEP);
    this.integral = clamp(this.integral + step, 0, 1);
    this.level = clamp(this.integral + PROPORTIONAL_GAIN * push, 0, 1);
    this.advance();
    return this.level;
  }

  /** The estimate's distance to the target, in targets, -1..1: at the target 0, at twice it 1. */
  private error(opensInFlight: number): number {
    let answers = 0;
    let windowMs = 0;
    for (let age = 0; age < OPEN_LATENCY_WINDOW_TICKS && answers < ESTIMATE_ANSWERS; age++) {
      const tick = (this.current - age + OPEN_LATENCY_WINDOW_TICKS) % OPEN_LATENCY_WINDOW_TICKS;
      answers += this.answers[tick]!;
      windowMs += this.elapsedMs[tick]!;
    }
    // Little's law: in flight = rate x latency. No answer in the window counts as one: a bound, not infinity.
    this.latencyMs = (opensInFlight * windowMs) / Math.max(1, answers);
    if (opensInFlight < MIN_QUEUED_OPENS) return -1;
    return clamp((this.latencyMs - this.targetMs) / this.targetMs, -1, 1);
  }

  /** The next tick takes the oldest one's place, emptied. */
  private advance(): void {
    this.current = (this.current + 1) % OPEN_LATENCY_WINDOW_TICKS;
    this.ringAnswers -= this.answers[this.current]!;
    this.answers[this.current] = 0;
    this.elapsedMs[this.current] = 0;
    this.slowNow = 0;
  }
}

/**
 * Ticks `controller` every OPEN_LATENCY_TICK_MS with the time since the last tick (a loop running late ticks
 * later; the step is bounded) and the opens in flight. Idle, a tick is three comparisons. The timer is
 * unref'd: it never keeps a process alive. Returns the stop.
 */
export function startOpenLatencySampler(
  controller: OpenLatencyController,
  opensInFlight: () => number,
): () => void {
  let lastMs = performance.now();
  const timer = setInterval(() => {
    const nowMs = performance.now();
    controller.tick(nowMs - lastMs, opensInFlight());
    lastMs = nowMs;
  }, OPEN_LATENCY_TICK_MS);
  timer.unref();
  return () => clearInterval(timer);
}
