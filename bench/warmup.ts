/**
 * Warms every server before anything is measured (JIT, connection pools, the Lua script cache, Temporal's
 * task queues), with a small storm on each: otherwise the first scenario pays for everyone's start-up.
 */
import type { BenchContext } from './context';
import { bareStorm, traditionalStorm } from './references/httpStorms';
import { apiStorm } from './scenarios/storm';

export async function warmUp(ctx: BenchContext): Promise<void> {
  const flows = ctx.sizes.warmupFlows;
  await apiStorm(ctx, 'warm-up', flows);
  await bareStorm(ctx, 'warm-up', flows);
  await traditionalStorm(ctx, 'warm-up', flows, false);
  await traditionalStorm(ctx, 'warm-up', flows, true);
}
