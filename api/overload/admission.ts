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
 * Two limits apply:
 *   - pressure: grabs and reads are shed in proportion to pressure 0..1, opens to 1..2. Shedding is spread
 *     evenly (an error-diffusion counter per class: at 0.25, every fourth), so the admitted fraction is
 *     exact at any rate without a random draw.
 *   - in flight: at most `stormInFlight` grabs, opens and reads at once, of which grabs and reads at most
 *     `grabSharePercent`; at most `sendInFlight` sends and `moneyInFlight` money reads. These bound memory
 *     and what the process can have queued on Redis, Postgres (its pool queues without bound) and Temporal.
 *
 * Idle (pressure 0, budgets not reached) a request costs one comparison of the pressure, one of its budget
 * and an increment.
 */
import type { PressureSource } from './pressure';

export const SHED_CLASSES = ['grab', 'read', 'open', 'send', 'money'] as const;
export type ShedClass = (typeof SHED_CLASSES)[number];
export type ShedReason = 'pressure' | 'in_flight';

export interface AdmissionBudgets {
  stormInFlight: number;
  grabSharePercent: number;
  sendInFlight: number;
  moneyInFlight: number;
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
  private readonly limits: Readonly<Record<ShedClass, number>>;
  /** Error-diffusion counters: a class's shed fraction accumulates here; each whole unit is one refusal. */
  private readonly debt: Record<ShedClass, number> = { grab: 0, read: 0, open: 0, send: 0, money: 0 };

  constructor(
    budgets: AdmissionBudgets,
    private readonly pressure: PressureSource,
  ) {
    const grabLimit = Math.max(1, Math.floor((budgets.stormInFlight * budgets.grabSharePercent) / 100));
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
    const level = this.pressure.level;
    if (level > 0 && this.shedByPressure(cls, level)) return 'pressure';
    const budget = BUDGET_OF[cls];
    if (this.inFlight[budget] >= this.limits[cls]) return 'in_flight';
    this.inFlight[budget]++;
    return undefined;
  }

  release(cls: ShedClass): void {
    const budget = BUDGET_OF[cls];
    if (this.inFlight[budget] > 0) this.inFlight[budget]--;
  }

  private shedByPressure(cls: ShedClass, level: number): boolean {
    const fraction = Admission.shedFraction(cls, level);
    if (fraction <= 0) return false;
    const debt = this.debt[cls] + fraction;
    if (debt >= 1) {
      this.debt[cls] = debt - 1;
      return true;
    }
    this.debt[cls] = debt;
    return false;
  }
}
