/**
 * Load shedding (docs/overload.md): the API's admission budgets per process, and the event-loop lag and the
 * opens' latency it aims for. Read from the validated environment by config/index.ts.
 */
export interface OverloadSettings {
  /** False: no request is ever shed and nothing of the shedder is mounted (no cost at all). */
  enabled: boolean;
  /** The event-loop lag the shedder holds the process to by refusing grabs, then opens (pressure). */
  lagTargetMs: number;
  /**
   * The opens' latency (admission to answer, their 90th percentile) the shedder holds by refusing grabs and
   * reads, never opens (api/overload/openLatency.ts); 0: that signal is off.
   */
  openLatencyTargetMs: number;
  /** Grabs, opens and packet reads in flight in one process; beyond it they are refused at once. */
  stormInFlight: number;
  /** The part of `stormInFlight` grabs and reads may take, so opens always find room. */
  grabSharePercent: number;
  /** The most sends (POST /v1/packets) in flight in one process: what it may have waiting on Temporal. */
  sendInFlight: number;
  /** The send latency the adaptive send limit steers to (admission.ts LatencyLimit). */
  sendLatencyTargetMs: number;
  /** Balance and bill reads in flight in one process: what it may have waiting on Postgres. */
  moneyInFlight: number;
  /** Sent as Retry-After on every shed answer. */
  retryAfterSeconds: number;
  /** How long a send waits for Temporal to start its workflow and answer the payment (503 payment_pending). */
  sendDeadlineMs: number;
}

export function parseOverload(env: {
  OVERLOAD_SHEDDING: boolean;
  OVERLOAD_LAG_TARGET_MS: number;
  OVERLOAD_OPEN_LATENCY_TARGET_MS: number;
  OVERLOAD_STORM_IN_FLIGHT: number;
  OVERLOAD_GRAB_SHARE_PERCENT: number;
  OVERLOAD_SEND_IN_FLIGHT: number;
  OVERLOAD_SEND_LATENCY_TARGET_MS: number;
  OVERLOAD_MONEY_IN_FLIGHT: number;
  OVERLOAD_RETRY_AFTER_SECONDS: number;
  SEND_DEADLINE_MS: number;
}): OverloadSettings {
  return {
    enabled: env.OVERLOAD_SHEDDING,
    lagTargetMs: env.OVERLOAD_LAG_TARGET_MS,
    openLatencyTargetMs: env.OVERLOAD_OPEN_LATENCY_TARGET_MS,
    stormInFlight: env.OVERLOAD_STORM_IN_FLIGHT,
    grabSharePercent: env.OVERLOAD_GRAB_SHARE_PERCENT,
    sendInFlight: env.OVERLOAD_SEND_IN_FLIGHT,
    sendLatencyTargetMs: env.OVERLOAD_SEND_LATENCY_TARGET_MS,
    moneyInFlight: env.OVERLOAD_MONEY_IN_FLIGHT,
    retryAfterSeconds: env.OVERLOAD_RETRY_AFTER_SECONDS,
    sendDeadlineMs: env.SEND_DEADLINE_MS,
  };
}
