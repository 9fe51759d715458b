/**
 * Opens alone on one hot packet through the full API: every client already holds a share (its grab is not
 * measured), and all of a packet's holders open at once. Judged against `ref.pg.hot`, the same opens of one
 * packet straight from a raw pg loop, so the figure shows what the API adds to the open statement.
 */
import { cpuMeter, type BenchContext } from '../context';
import { outcomeOf, runFlows } from '../flows';
import { bearer } from '../http';
import { mapLimit } from '../load';
import { HOT_PACKETS } from '../references/machine';
import { figure, type Figure } from '../stats';
import { sendStormPacket } from './storm';

const SHARES = 100;
const GRAB_CONCURRENCY = 20;

export async function opensAloneScenario(ctx: BenchContext): Promise<Figure> {
  const tokens = await ctx.tokens(ctx.api.secret, 'opener', SHARES);
  const packets: string[] = [];
  for (let p = 0; p < HOT_PACKETS; p += 1) {
    const packetId = await sendStormPacket(ctx, `openssender${p}x`);
    await mapLimit(tokens, GRAB_CONCURRENCY, async (token) => {
      const grab = await ctx.api.http.post(`/v1/packets/${packetId}/grab`, { headers: bearer(token) });
      if (grab.status !== 200) throw new Error(`opens alone: a grab answered ${grab.status}`);
    });
    packets.push(packetId);
  }
  await ctx.api.http.preconnect(SHARES);
  const meter = cpuMeter(ctx);
  const latencies: number[] = [];
  const notes: string[] = [];
  let durationMs = 0;
  let errors = 0;
  for (const packetId of packets) {
    const run = await runFlows(
      'API opens of one hot packet, every client holding',
      SHARES,
      SHARES,
      async (i) =>
        outcomeOf(
          'open',
          await ctx.api.http.post(`/v1/packets/${packetId}/open`, { headers: bearer(tokens[i] as string) }),
          { 200: 'opened' },
          1,
        ),
    );
    latencies.push(...run.latenciesMs);
    durationMs += run.durationMs;
    errors += run.errors;
    notes.push(...run.errorExamples);
  }
  return ctx.report.add(
    meter(
      figure({
        id: 's1.opens',
        label: '1c. opens alone of one hot packet, every client holding, full API',
        unit: 'opens',
        count: latencies.length,
        durationMs,
        latencies,
        errors,
        notes: [`${HOT_PACKETS} packets one after the other, ${SHARES} holders opening at once`, ...notes],
      }),
    ),
  );
}
