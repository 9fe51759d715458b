/**
 * How overloaded this process is, as one number: the pressure, from 0 (admit everything) to 2 (refuse every
 * grab and every open). On two cores the API fails by CPU saturation, and a saturated Node process queues
 * its work where no counter of ours sees it: in the kernel's socket buffers and in the event loop, whose
 * turns grow long. The event loop's lag (how late a timer fires) is the one cheap signal of that queue, so
 * the pressure is driven by it.
 *
 * Why a controller and not a threshold: with "shed while the lag is over the target" every request is
 * refused for one turn and every request admitted the next, and the queue swings with it. The pressure is
 * instead integrated from the lag's distance to its target: it rises while the loop runs late, falls while
 * it is early, and settles on the fraction of grabs (then opens) whose refusal keeps the loop at the
 * target. A saturated loop is late turn after turn; a single long turn (a garbage collection, a compile)
 * is not saturation, so the first late sample only arms the rise and the second moves it, by at most
 * MAX_STEP: a lone spike sheds nothing.
 *
 * A loop can also run late because the process is not given the CPU (other processes on the cores), with
 * little work of its own. Refusing requests then frees nothing, so the pressure only rises while the process
 * used at least half a core over the sample (its own CPU time, `process.cpuUsage`); otherwise it can only
 * fall. The event loop's utilization would not tell the two apart: a process descheduled in the middle of
 * its work counts as busy. On a machine shared with others this keeps a lightly loaded API from shedding
 * for their sake (the first smoke runs, at load 8 on two cores, shed grabs at 20 flows a second).
 *
 * `PressureController` is pure (its input is the lag, the time between samples and the CPU share);
 * `startLagSampler` feeds it from a timer. test/unit/overloadAdmission.test.ts drives it with a model of a
 * saturated loop.
 */

/** Grabs are refused in proportion to pressure 0..1, opens to 1..2 (admission.ts). */
export const MAX_PRESSURE = 2;
/** Pressure per second at a lag twice the target (or none at all): 0 to 1 in 200 ms, 2 to 0 in 400 ms. */
const GAIN_PER_SECOND = 5;
/** The most one sample moves the pressure, so one long turn is not taken for a saturated loop. */
const MAX_STEP = 0.5;
/** How often the sampler's timer asks to run; under load it runs once per (longer) turn of the loop. */
export const SAMPLE_INTERVAL_MS = 20;
/** Below this share of a core the loop is late for want of the CPU, not for its own work: no rise. */
export const BUSY_CPU_SHARE = 0.5;

const clamp = (value: number, low: number, high: number) => Math.min(high, Math.max(low, value));

/** What admission reads per request: a number, so the check is one comparison. */
export interface PressureSource {
  readonly level: number;
}

export class PressureController implements PressureSource {
  level = 0;
  /** The last lag observed, for metrics and logs. */
  lagMs = 0;
  /** Whether the previous sample was late too: only a second late sample in a row raises the pressure. */
  private wasLate = false;

  constructor(readonly lagTargetMs: number) {}

  /** One sample: the loop ran `lagMs` late over a tick of `elapsedMs`, using `cpuShare` of a core. */
  observe(lagMs: number, elapsedMs: number, cpuShare = 1): number {
    this.lagMs = lagMs;
    const late = clamp((lagMs - this.lagTargetMs) / this.lagTargetMs, -1, 1);
    const armed = this.wasLate;
    this.wasLate = late > 0;
    const error = cpuShare < BUSY_CPU_SHARE || !armed ? Math.min(0, late) : late;
    const step = clamp((GAIN_PER_SECOND * error * elapsedMs) / 1000, -MAX_STEP, MAX_STEP);
    this.level = clamp(this.level + step, 0, MAX_PRESSURE);
    return this.level;
  }
}

/** Tests set the pressure by hand. */
export class FixedPressure implements PressureSource {
  constructor(public level = 0) {}
}

/**
 * Feeds `controller` every SAMPLE_INTERVAL_MS with how late its timer fired and the share of a core the
 * process used meanwhile (one getrusage call per sample, none per request). The timer is unref'd: it never
 * keeps a process alive. Returns the stop.
 */
export function startLagSampler(controller: PressureController): () => void {
  let lastMs = performance.now();
  let lastCpu = process.cpuUsage();
  const timer = setInterval(() => {
    const nowMs = performance.now();
    const elapsedMs = nowMs - lastMs;
    lastMs = nowMs;
    const cpu = process.cpuUsage(lastCpu);
    lastCpu = process.cpuUsage();
    const cpuShare = (cpu.user + cpu.system) / 1000 / Math.max(1, elapsedMs);
    controller.observe(Math.max(0, elapsedMs - SAMPLE_INTERVAL_MS), elapsedMs, cpuShare);
  }, SAMPLE_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}

const processControllers = new Map<number, PressureController>();

/**
 * The process's pressure for a lag target: the lag is the process's, so every app in it (two cells in one
 * test process) shares one controller and one timer per target.
 */
export function processPressure(lagTargetMs: number): PressureController {
  let controller = processControllers.get(lagTargetMs);
  if (!controller) {
    controller = new PressureController(lagTargetMs);
    processControllers.set(lagTargetMs, controller);
    startLagSampler(controller);
  }
  return controller;
}
