/** What every scenario works with, and `phase`, which brackets one with CPU/memory readings and an audit. */
import { audit } from './audit';
import { signTokens, userIds, type ServiceApi } from './fixtures';
import type { HttpClient } from './http';
import type { Sizes } from './options';
import { log, sleep } from './progress';
import type { Report } from './report';
import type { Figure } from './stats';
import type { World } from './world';

export interface BenchContext {
  world: World;
  sizes: Sizes;
  report: Report;
  /** The service under test (the API the bench started, or --url). */
  api: ServiceApi;
  /** Reference servers: no middleware, and the service's middleware around the traditional grab. */
  bare: HttpClient;
  full: HttpClient;
  /** Tokens for users `${prefix}0..count-1`, signed once per secret and prefix. */
  tokens(secret: string, prefix: string, count: number): Promise<string[]>;
}

export function tokenCache(): BenchContext['tokens'] {
  const cache = new Map<string, string[]>();
  return async (secret, prefix, count) => {
    const key = `${secret}\u0000${prefix}`;
    const known = cache.get(key) ?? [];
    if (known.length < count) {
      const more = await signTokens(secret, userIds(prefix, count).slice(known.length));
      cache.set(key, [...known, ...more]);
    }
    return (cache.get(key) ?? []).slice(0, count);
  };
}

/** Attaches CPU ms per unit of a figure's count; `stop()` freezes the reading before unmeasured work. */
export interface CpuMeter {
  (figure: Figure): Figure;
  stop(): void;
}

export function cpuMeter(ctx: BenchContext): CpuMeter {
  const mark = ctx.world.procs.cpuMark();
  let frozen: Record<string, number> | undefined;
  const attach = ((figure: Figure) => {
    const seconds = frozen ?? ctx.world.procs.cpuSince(mark);
    const perUnit: Record<string, number> = {};
    for (const [name, value] of Object.entries(seconds))
      perUnit[name] = (value * 1000) / Math.max(1, figure.count);
    figure.cpuMsPerUnit = perUnit;
    return figure;
  }) as CpuMeter;
  attach.stop = () => {
    frozen ??= ctx.world.procs.cpuSince(mark);
  };
  return attach;
}

/** Below this many cores busy (API, worker and Temporal together) for QUIET_WINDOWS windows, the service is idle. */
const QUIET_CORES = 0.15;
/** The bench's own service's processes: what `quiesce` waits on unless a phase names more. */
const SERVICE_PROCESSES = ['api', 'worker', 'temporal'];
const QUIET_WINDOW_MS = 500;
const QUIET_WINDOWS = 2;
const QUIESCE_MAX_MS = 60_000;

/**
 * Waits (bounded) until the service has finished what earlier work left behind (credit waves, sweeps,
 * workflow tasks), so a measurement does not pay for its predecessor's backlog.
 */
export async function quiesce(
  ctx: BenchContext,
  label: string,
  processes: readonly string[] = SERVICE_PROCESSES,
): Promise<void> {
  const startedMs = Date.now();
  let quiet = 0;
  while (Date.now() - startedMs < QUIESCE_MAX_MS) {
    const mark = ctx.world.procs.cpuMark();
    await sleep(QUIET_WINDOW_MS);
    const cpu = ctx.world.procs.cpuSince(mark);
    const busySeconds = processes.reduce((sum, name) => sum + (cpu[name] ?? 0), 0);
    const cores = busySeconds / (QUIET_WINDOW_MS / 1000);
    quiet = cores < QUIET_CORES ? quiet + 1 : 0;
    if (quiet >= QUIET_WINDOWS) {
      const waitedS = (Date.now() - startedMs) / 1000;
      if (waitedS > 2) log(`${label}: waited ${waitedS.toFixed(0)} s for the service to go idle`);
      return;
    }
  }
  log(`${label}: the service was still busy after ${QUIESCE_MAX_MS / 1000} s; measuring anyway`);
}

/** Runs one phase: resets the CPU/memory window, runs, records the window and audits the money. */
export async function phase<T>(ctx: BenchContext, name: string, run: () => Promise<T>): Promise<T> {
  log(`--- ${name}`);
  await quiesce(ctx, name);
  ctx.world.procs.take();
  const result = await run();
  ctx.report.data.phases.push({ phase: name, reading: ctx.world.procs.take() });
  ctx.report.data.audits.push(await audit(ctx.world.service.db, name, ctx.world.local ? 'bench' : 'service'));
  if (!ctx.world.local) ctx.report.data.audits.push(await audit(ctx.world.db, name, 'references'));
  return result;
}
