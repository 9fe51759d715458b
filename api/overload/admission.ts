/**
 * Who is let in when the process is overloaded (docs/overload.md). Pure: the pressure comes in (pressure.ts)
 * and each request's class; out comes "admitted" (and counted in flight until released) or why it is shed.
 *
 * Classes, in the order they are shed:
 *   grab, read  a grab, a packet's detail, a list: refused first; a refused grab costs its client one try,
 *               and nothing is lost (no hold is taken)
 *   open        the open of a share someone already won: refused only once every grab is
 *   send, money a send (POST /v1/packets) and a balance or bill read have budgets of their own, which the
 *               storm can never take; they wait on Temporal and Postgres, not on this process's CPU
 *
 * Three limits apply, each on the signal of what its class waits on:
 *   - pressure, of two sources: this process's CPU (pressure.ts, 0..2) and the opens' latency
 *     (openLatency.ts, 0..1, for opens that queue on Postgres while the CPU idles). Grabs and reads are shed
 *     in proportion to the larger, up to 1; opens to the CPU pressure's part above 1 alone, so slow opens
 *     never refuse an open (it holds a share someone already won), only the grabs that would queue more
 *     opens behind it. Shedding is spread evenly (an error-diffusion counter per class: at 0.25, every
 *     fourth), so the admitted fraction is exact at any rate without a random draw.
 *   - in flight: at most `stormInFlight` grabs, opens and reads at once, of which grabs and reads at most
 *     `grabSharePercent`; at most `moneyInFlight` money reads. These bound memory and what the process can
 *     have queued on Redis and Postgres (its pool queues without bound).
 *   - sends in flight, adaptive (LatencyLimit): a send waits on Temporal and the worker, whose pace differs
 *     tenfold between deployments, so a fixed number is either too loose (sends queue for seconds) or too
 *     tight. By Little's law the sends in flight are the send rate times their latency; the limit moves
 *     between 2 and `sendInFlight` to keep a send's latency near `sendLatencyTargetMs`: cut in proportion
 *     when answers come slower (at most once per target, so one slow burst is one cut), raised by one per
 *     window of answers that come faster.
 *
 * Idle (pressures 0, budgets not reached) a request costs two comparisons of the pressures, one of its
 * budget, an increment, and one comparison that counts opens in flight apart.
 */
import { NO_OPEN_LATENCY, type OpenLatencySignal } from './openLatency';
import type { PressureSource } from './pressure';

export const SHED_CLASSES = ['grab', 'read', 'open', 'send', 'money'] as const;
export type ShedClass = (typeof SHED_CLASSES)[number];
/** Why a request was refused: the CPU pressure, the opens' latency, or its budget in flight. */
export type ShedReason = 'pressure' | 'open_latency' | 'in_flight';

export interface AdmissionBudgets {
  stormInFlight: number;
  grabSharePercent: number;
  sendInFlight: number;
  sendLatencyTargetMs: number;
  moneyInFlight: number;
}

/** The least sends a process keeps in flight, however slow they are: a slow Temporal still gets tried. */
export const MIN_SEND_LIMIT = 2;
/** A cut never takes more than half the limit, nor less than a tenth. */
const CUT_MIN = 0.5;
const CUT_MAX = 0.9;

/** An in-flight limit steered by its answers' latency (additive increase, proportional decrease). */
export class LatencyLimit {
  value: number;
  private lastCutMs = Number.NEGATIVE_INFINITY;

  constructor(
    readonly max: number,
    readonly targetMs: number,
    readonly min = Math.min(MIN_SEND_LIMIT, max),
  ) {
    this.value = max;
  }

  observe(latencyMs: number, nowMs: number): void {
    if (latencyMs > this.targetMs) {
      if (nowMs - this.lastCutMs < this.targetMs) return;
      this.lastCutMs = nowMs;
      const cut = Math.min(CUT_MAX, Math.max(CUT_MIN, this.targetMs / latencyMs));
      this.value = Math.max(this.min, this.value * cut);
    } else {
      this.value = Math.min(this.max, this.value + 1 / this.value);
    }
  }
}

/** The counter each class is counted in. */
export type Budget = 'storm' | 'send' | 'money';
export const BUDGET_OF: Readonly<Record<ShedClass, Budget>> = {
  grab: 'storm',
  read: 'storm',
  open: 'storm',
  send: 'send',
  money: 'money',
};

export class Admission {
  readonly inFlight: Record<Budget, number> = { storm: 0, send: 0, money: 0 };
  /** Opens admitted and not answered (in the storm budget too): the queue the open-latency estimate sees. */
  opensInFlight = 0;
  readonly sendLimit: LatencyLimit;
  private readonly limits: Readonly<Record<ShedClass, number>>;
  /** Error-diffusion counters: a class's shed fraction accumulates here; each whole unit is one refusal. */
  private readonly debt: Record<ShedClass, number> = { grab: 0, read: 0, open: 0, send: 0, money: 0 };

  constructor(
    budgets: AdmissionBudgets,
    private readonly pressure: PressureSource,
    private readonly openLatency: OpenLatencySignal = NO_OPEN_LATENCY,
  ) {
    const grabLimit = Math.max(1, Math.floor((budgets.stormInFlight * budgets.grabSharePercent) / 100));
    this.sendLimit = new LatencyLimit(budgets.sendInFlight, budgets.sendLatencyTargetMs);
    this.limits = {
      grab: grabLimit,
      read: grabLimit,
      open: budgets.stormInFlight,
      send: budgets.sendInFlight,
      money: budgets.moneyInFlight,
    };
  }

  /** The fraction of `cls` the pressure refuses: grabs and reads first, opens once they are all refused. */
  static shedFraction(cls: ShedClass, pressure: number): number {
    if (cls === 'grab' || cls === 'read') return Math.min(1, pressure);
    if (cls === 'open') return Math.min(1, Math.max(0, pressure - 1));
    return 0;
  }

  /** Undefined: admitted and counted in flight (call `release` when it is answered); else why it is shed. */
  admit(cls: ShedClass): ShedReason | undefined {
    const cpu = this.pressure.level;
    const slowOpens = this.openLatency.level;
    if (cpu > 0 || slowOpens > 0) {
      const refused = this.shedByPressure(cls, cpu, slowOpens);
      if (refused !== undefined) return refused;
    }
    const budget = BUDGET_OF[cls];
    const limit = cls === 'send' ? Math.floor(this.sendLimit.value) : this.limits[cls];
    if (this.inFlight[budget] >= limit) return 'in_flight';
    this.inFlight[budget]++;
    if (cls === 'open') this.opensInFlight++;
    return undefined;
  }

  /**
   * A send's and an open's release carry their latency (admission to answer): a send's steers the send limit,
   * an open's the open-latency pressure.
   */
  release(cls: ShedClass, latencyMs?: number, nowMs = performance.now()): void {
    const budget = BUDGET_OF[cls];
    if (this.inFlight[budget] > 0) this.inFlight[budget]--;
    if (cls === 'open' && this.opensInFlight > 0) this.opensInFlight--;
    if (latencyMs === undefined) return;
    if (cls === 'send') this.sendLimit.observe(latencyMs, nowMs);
    else if (cls === 'open') this.openLatency.observe(latencyMs);
  }

  /**
   * The open-latency pressure counts up to 1 only, so through shedFraction it refuses grabs and reads and
   * never an open (an open's share is the pressure's part above 1, which only the CPU reaches).
   */
  private shedByPressure(cls: ShedClass, cpu: number, slowOpens: number): ShedReason | undefined {
    const fromOpens = Math.min(1, slowOpens);
    const fraction = Admission.shedFraction(cls, Math.max(cpu, fromOpens));
    if (fraction <= 0) return undefined;
    const debt = this.debt[cls] + fraction;
    if (debt >= 1) {
      this.debt[cls] = debt - 1;
      return cpu >= fromOpens ? 'pressure' : 'open_latency';
    }
    this.debt[cls] = debt;
    return undefined;
  }
}
